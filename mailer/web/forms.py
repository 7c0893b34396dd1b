"""Human-form plumbing for public pages: capped body reading and HMAC double-submit CSRF tokens.

The CSRF cookie holds a random value; the form carries HMAC(secret, value). A forged
cross-site POST carries neither the cookie (SameSite=Lax) nor a matching token. The
RFC 8058 one-click POST is deliberately outside this: it has no cookie by definition.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from mailer.errors import RequestTooLarge

CSRF_COOKIE = "mailer_csrf"
CSRF_FIELD = "csrf_token"


async def read_form(request: Request, *, limit: int, max_fields: int = 50) -> FormData:
    """Parse a urlencoded or multipart body of at most ``limit`` bytes; malformed → empty form.

    The body is read first with a cap, so a huge or endless upload costs at most
    ``limit`` bytes of memory, whatever Content-Length claims.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise RequestTooLarge()
    data = bytes(body)

    async def replay() -> dict:
        return {"type": "http.request", "body": data, "more_body": False}

    buffered = Request(request.scope, replay)
    try:
        return await buffered.form(max_files=0, max_fields=max_fields, max_part_size=limit)
    except (HTTPException, MultiPartException, ValueError, UnicodeDecodeError):
        return FormData()


def field(form: FormData, name: str) -> str:
    """A text field's value ('' when absent, or when a file was sent in its place)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


class Csrf:
    """Issue and check double-submit tokens signed with the service secret."""

    def __init__(self, secret: str, *, secure: bool) -> None:
        self._key = hashlib.sha256(b"mailer-csrf:" + secret.encode()).digest()
        self._secure = secure

    def _sign(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    def token_for(self, request: Request) -> tuple[str, str]:
        """(cookie value, form token): the visitor's cookie if it looks like ours, else a new one."""
        value = request.cookies.get(CSRF_COOKIE, "")
        if not (20 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum()):
            value = secrets.token_urlsafe(24)
        return value, self._sign(value)

    def set_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(
            CSRF_COOKIE,
            value,
            max_age=7 * 86400,
            httponly=True,
            samesite="lax",
            secure=self._secure,
            path="/",
        )

    def valid(self, request: Request, form: FormData) -> bool:
        value = request.cookies.get(CSRF_COOKIE, "")
        token = field(form, CSRF_FIELD)
        if not value or not token:
            return False
        return hmac.compare_digest(self._sign(value), token)

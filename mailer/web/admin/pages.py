"""Rendering the staff admin's pages and guarding them: the session cookie, per-session CSRF, the 401/403/404 pages.

The admin shares the public pages' template environment and look (``templates/admin``
extends ``templates/web/base.html``) and their words, plus its own (``admin.words``).
A logged-in form carries HMAC(secret, session token) as its CSRF token, so a token
works only with the session it was issued to; the pre-login forms (log-in, set
password) use the public pages' double-submit tokens.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from mailer import staff
from mailer.errors import MailerError
from mailer.web.admin import words
from mailer.web.forms import CSRF_FIELD, field
from mailer.web.headers import ADMIN_CSP
from mailer.web.i18n import choose_language
from mailer.web.pages import NO_STORE, client_ip

SESSION_COOKIE = "mailer_admin"
LOGIN_PATH = "/admin/login"


class LoginNeeded(MailerError):
    """No live session: the edge answers with a redirect to the log-in page."""


class CsrfRefused(MailerError):
    """A form without its CSRF token, or with another session's: the edge answers 403."""


class AdminPages:
    """The admin pages of one app, built once by ``admin.install``."""

    def __init__(self, app_state) -> None:
        settings = app_state.context.settings
        public = app_state.public_pages
        minimum = str(staff.MIN_LENGTH)
        self.words = {
            lang: {
                **public.words[lang],
                **{key: text.replace("{min}", minimum) for key, text in extra.items()},
            }
            for lang, extra in (("ko", words.catalogue("ko")), ("en", words.catalogue("en")))
        }
        self.public = public
        self._key = hashlib.sha256(b"mailer-admin-csrf:" + settings.secret().encode()).digest()
        self.secure = settings.base_url.startswith("https://")
        self.public_csrf = app_state.csrf
        self.form_limit = settings.subscriptions.max_form_bytes

    def session_csrf(self, token: str) -> str:
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()

    def render(
        self,
        request: Request,
        name: str,
        values: dict[str, Any] | None = None,
        *,
        status: int = 200,
        lang: str | None = None,
    ) -> Response:
        """``templates/admin/NAME`` in the visitor's language, with a CSRF token for its forms."""
        lang = lang or choose_language(request)
        values = dict(values or {})
        session: staff.Session | None = getattr(request.state, "staff", None)
        cookie_value = None
        if session is not None:
            values["csrf_token"] = self.session_csrf(request.cookies.get(SESSION_COOKIE, ""))
        else:
            cookie_value, values["csrf_token"] = self.public_csrf.token_for(request)
        values.update(
            admin_sections=words.SECTIONS,
            staff=session,
            can=lambda permission: session is not None and staff.allowed(session, permission),
        )
        response = self.public.respond(
            request,
            f"admin/{name}",
            lang,
            values,
            status=status,
            words=self.words[lang],
            csrf_cookie=cookie_value,
        )
        response.headers["Content-Security-Policy"] = ADMIN_CSP
        return response

    def message(self, request: Request, title: str, body: str, *, status: int) -> Response:
        return self.render(
            request, "message.html", {"title_key": title, "body_key": body}, status=status
        )

    def check_csrf(self, request: Request, form: FormData) -> None:
        """Raise CsrfRefused unless the form's token belongs to this session (or, logged out, this visitor)."""
        session = getattr(request.state, "staff", None)
        if session is None:
            if not self.public_csrf.valid(request, form):
                raise CsrfRefused()
            return
        expected = self.session_csrf(request.cookies.get(SESSION_COOKIE, ""))
        if not hmac.compare_digest(expected, field(form, CSRF_FIELD)):
            raise CsrfRefused()

    def set_session_cookie(self, response: Response, token: str) -> None:
        # No max-age: the browser forgets it at exit, and the server ends it earlier
        # (the idle and absolute timeouts of ``staff.sessions``).
        response.set_cookie(
            SESSION_COOKIE, token, httponly=True, samesite="lax", secure=self.secure, path="/admin"
        )

    def clear_session_cookie(self, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, httponly=True, samesite="lax", secure=self.secure, path="/admin"
        )


async def admin_pages(request: Request) -> AdminPages:
    return request.app.state.admin_pages


async def optional_session(request: Request) -> staff.Session | None:
    """The visitor's live staff session, or None (kept on ``request.state.staff`` for rendering)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    session = None
    if token:
        context = request.app.state.context
        session = await context.database.run(staff.current_session, context, token)
    request.state.staff = session
    return session


async def required_session(request: Request) -> staff.Session:
    """FastAPI dependency: the live session, or LoginNeeded (a redirect to the log-in page)."""
    session = await optional_session(request)
    if session is None:
        raise LoginNeeded()
    return session


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)
    response.headers.update(NO_STORE)
    return response


def local_next(value: str) -> str:
    """Where to go after log-in: an admin path of ours only, never another site."""
    if value.startswith("/admin") and not value.startswith("//") and "\\" not in value:
        if not any(ord(char) < 33 for char in value):
            return value
    return "/admin"


def client(request: Request) -> str | None:
    return client_ip(request)


Admin = Annotated[AdminPages, Depends(admin_pages)]
StaffSession = Annotated[staff.Session, Depends(required_session)]
MaybeSession = Annotated[staff.Session | None, Depends(optional_session)]

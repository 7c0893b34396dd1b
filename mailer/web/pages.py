"""Rendering the public subscriber pages: words in the visitor's language, CSRF tokens, no caching.

Every handler reads its input defensively (capped body, malformed forms become empty
forms) and answers with a page: no input produces a 5xx.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from mailer import subscribers
from mailer.config import Settings
from mailer.errors import RequestTooLarge
from mailer.web.forms import CSRF_FIELD, Csrf, read_form
from mailer.web.i18n import catalogues

if TYPE_CHECKING:
    from mailer.subscribers import Problem

#: What the public pages add to the headers every response gets from ``web.headers``
#: (CSP, no framing, no Referer, nosniff): they carry tokens and CSRF tokens, so no
#: cache may keep them.
NO_STORE = {"Cache-Control": "no-store"}

#: What a busy answer asks the client (a mail provider's one-click POST, a reader) to wait.
BUSY_RETRY_AFTER_SECONDS = 30


class PublicPages:
    """The public pages of one app: built once by ``create_app`` with its templates and CSRF."""

    def __init__(self, settings: Settings, templates: Jinja2Templates, csrf: Csrf) -> None:
        self.words = catalogues(settings)
        self._list_name = settings.compliance.list_name
        self._templates = templates
        self._csrf = csrf
        self._form_limit = settings.subscriptions.max_form_bytes

    def render(
        self,
        request: Request,
        name: str,
        lang: str,
        values: dict[str, Any] | None = None,
        *,
        status: int = 200,
        with_form: bool = False,
    ) -> Response:
        """A page in ``lang``; ``with_form`` gives it a CSRF token (and the visitor its cookie)."""
        values = dict(values or {})
        cookie_value = None
        if with_form:
            cookie_value, values["csrf_token"] = self._csrf.token_for(request)
        return self.respond(request, name, lang, values, status=status, csrf_cookie=cookie_value)

    def respond(
        self,
        request: Request,
        name: str,
        lang: str,
        values: dict[str, Any],
        *,
        status: int,
        words: Mapping[str, str] | None = None,
        csrf_cookie: str | None = None,
    ) -> Response:
        """Any page of the site (public or admin): the shared values, no caching, the CSRF cookie.

        ``words`` replaces the public catalogue (the admin adds its own words to it);
        ``csrf_cookie`` is the double-submit cookie value to set with the page, if any.
        """
        values.update(
            lang=lang,
            t=self.words[lang] if words is None else words,
            list_name=self._list_name,
            path=request.url.path,
            csrf_field=CSRF_FIELD,
        )
        response = self._templates.TemplateResponse(request, name, values, status_code=status)
        response.headers.update(NO_STORE)
        if csrf_cookie is not None:
            self._csrf.set_cookie(response, csrf_cookie)
        return response

    def message(
        self, request: Request, lang: str, title: str, body: str, *, status: int
    ) -> Response:
        """A page with one heading and one paragraph, both catalogue keys."""
        return self.render(
            request, "message.html", lang, {"title_key": title, "body_key": body}, status=status
        )

    def not_found(self, request: Request, lang: str) -> Response:
        return self.message(request, lang, "title_not_found", "not_found_body", status=404)

    def too_large(self, request: Request, lang: str) -> Response:
        return self.message(request, lang, "title_too_large", "too_large_body", status=413)

    def busy(self, request: Request, lang: str) -> Response:
        """503 with Retry-After: the database could not take the request in time (nothing changed)."""
        response = self.message(request, lang, "title_busy", "busy_body", status=503)
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
        return response

    def problem_texts(self, lang: str, problems: Mapping[str, Problem]) -> dict[str, str]:
        """InvalidSubscriberInput.problems in the visitor's words, field by field."""
        words = self.words[lang]
        return {
            name: words[f"problem_{problem.value}"].replace(
                "{limit}", str(subscribers.FIELD_LIMITS.get(name, ""))
            )
            for name, problem in problems.items()
        }

    async def form(self, request: Request) -> FormData | None:
        """The submitted form, read with the configured cap; None when the body is over it."""
        try:
            return await read_form(request, limit=self._form_limit)
        except RequestTooLarge:
            return None


async def public_pages(request: Request) -> PublicPages:
    """FastAPI dependency: the public pages ``create_app`` built."""
    return request.app.state.public_pages


async def submitted_form(request: Request) -> FormData | None:
    """FastAPI dependency: the POSTed form, capped (None when too large, empty when malformed)."""
    return await request.app.state.public_pages.form(request)


Pages = Annotated[PublicPages, Depends(public_pages)]
SubmittedForm = Annotated[FormData | None, Depends(submitted_form)]


def client_ip(request: Request) -> str | None:
    """The client address for rate limits and the consent ledger.

    ``web.client_address`` has already put the peer, or what a trusted proxy reported,
    into the request's client: handlers never read forwarding headers themselves.
    """
    return request.client.host if request.client else None


def user_agent(request: Request) -> str | None:
    return request.headers.get("user-agent")

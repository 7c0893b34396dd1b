"""Public subscriber pages: signup, confirmation, one-click unsubscribe (RFC 8058), preferences.

Every handler reads its input defensively (capped body, malformed forms become empty
forms) and answers with a page: no input produces a 5xx. Database work never runs on
the event loop: ``context.database`` hands it to the context's database thread (SQLite) or the
thread pool (PostgreSQL); notice mails are sent by the NoticeRunner after the answer.
"""

from __future__ import annotations

import json
import re
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from mailer import subscribers as subscriptions
from mailer.context import AppContext
from mailer.errors import InvalidInputError, NotFoundError, RequestTooLarge, SignupThrottled
from mailer.subscribers import ConfirmState
from mailer.subscribers.validation import (
    MAX_EMAIL_LENGTH,
    MAX_NAME_LENGTH,
    MAX_ORGANISATION_LENGTH,
    InvalidSubscriberInput,
    Problem,
    check_subscriber,
)
from mailer.web.forms import CSRF_FIELD, Csrf, field, read_form
from mailer.web.i18n import catalogues, choose_language
from mailer.web.notice_runner import NoticeRunner

#: Headers on every public page. Tokens travel in URLs, so no Referer may leak them;
#: no third-party asset is loaded (CSP), and the pages cannot be framed (clickjacking).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

LIMITS = {
    "email": MAX_EMAIL_LENGTH,
    "name": MAX_NAME_LENGTH,
    "organisation": MAX_ORGANISATION_LENGTH,
}
_SOURCE_TAG = re.compile(r"[A-Za-z0-9_.-]{1,40}")
ONE_CLICK_KEY, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"


def public_router(context: AppContext, templates: Jinja2Templates) -> APIRouter:
    """The router for one AppContext; its lifespan runs the notice sender of this process.

    ``templates`` is the app's one page environment (``create_app`` builds it).
    """
    settings = context.settings
    words = catalogues(settings)
    csrf = Csrf(settings.secret(), secure=settings.base_url.startswith("https://"))
    runner = NoticeRunner(context)
    form_limit = settings.subscriptions.max_form_bytes

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        runner.start()
        try:
            yield
        finally:
            await runner.stop()

    router = APIRouter(lifespan=lifespan)

    def render(
        request: Request,
        name: str,
        lang: str,
        values: dict[str, Any] | None = None,
        *,
        status: int = 200,
        with_form: bool = False,
    ) -> Response:
        values = dict(values or {})
        cookie_value = None
        if with_form:
            cookie_value, values["csrf_token"] = csrf.token_for(request)
        values.update(
            lang=lang,
            t=words[lang],
            list_name=settings.compliance.list_name,
            path=request.url.path,
            csrf_field=CSRF_FIELD,
        )
        response = templates.TemplateResponse(request, name, values, status_code=status)
        response.headers.update(SECURITY_HEADERS)
        if cookie_value is not None:
            csrf.set_cookie(response, cookie_value)
        return response

    def client_ip(request: Request) -> str | None:
        return request.client.host if request.client else None

    def user_agent(request: Request) -> str | None:
        return request.headers.get("user-agent")

    def message_page(
        request: Request, lang: str, title: str, body: str, *, status: int
    ) -> Response:
        return render(
            request, "message.html", lang, {"title_key": title, "body_key": body}, status=status
        )

    async def form_or_413(request: Request) -> Any:
        try:
            return await read_form(request, limit=form_limit)
        except RequestTooLarge:
            return None

    # --- signup ------------------------------------------------------------------------

    def signup_page(
        request: Request,
        lang: str,
        values: dict[str, str],
        *,
        errors: dict[str, str] | None = None,
        notice: str | None = None,
        status: int = 200,
    ) -> Response:
        text = subscriptions.current_consent_text(context, language=lang)
        return render(
            request,
            "subscribe.html",
            lang,
            {
                "values": values,
                "errors": errors or {},
                "notice": notice,
                "consent_text": text.text if text else "",
                "consent_version": text.version if text else "",
            },
            status=status,
            with_form=True,
        )

    def problem_text(lang: str, name: str, problem: Problem) -> str:
        return words[lang][f"problem_{problem.value}"].replace("{limit}", str(LIMITS.get(name, "")))

    @router.get("/subscribe", response_class=HTMLResponse)
    async def subscribe_form(request: Request) -> Response:
        lang = choose_language(request)
        query = request.query_params
        # Prefill from the embeddable snippet (a GET form on another site, see the CLI).
        values = {key: query.get(key, "")[:400] for key in ("email", "name", "organisation", "src")}
        return await context.database.run(signup_page, request, lang, values)

    @router.post("/subscribe", response_class=HTMLResponse)
    async def subscribe_submit(request: Request) -> Response:
        form = await form_or_413(request)
        if form is None:
            lang = choose_language(request)
            return message_page(request, lang, "title_too_large", "too_large_body", status=413)
        lang = choose_language(request, field(form, "lang"))
        values = {key: field(form, key)[:400] for key in ("email", "name", "organisation", "src")}
        if field(form, "website"):
            # Honeypot filled: a bot. Same answer as a real signup, nothing stored or sent.
            return render(request, "sent.html", lang)
        if not csrf.valid(request, form):
            return await context.database.run(
                signup_page, request, lang, values, notice="csrf_expired", status=400
            )
        if field(form, "consent") != "yes":
            # Refused before any store work; every other field is checked too, so the
            # page shows all problems at once.
            _, problems = check_subscriber(
                email=field(form, "email"),
                name=field(form, "name"),
                organisation=field(form, "organisation"),
            )
            problems["consent"] = Problem.CONSENT_REQUIRED
            errors = {name: problem_text(lang, name, p) for name, p in problems.items()}
            return await context.database.run(
                signup_page, request, lang, values, errors=errors, status=400
            )
        src = values["src"]
        source = f"web:{src}" if _SOURCE_TAG.fullmatch(src) else "web"
        try:
            await context.database.run(
                subscriptions.signup,
                context,
                field(form, "email"),
                name=field(form, "name"),
                organisation=field(form, "organisation"),
                consent_version=field(form, "consent_version") or None,
                source=source,
                ip=client_ip(request),
                user_agent=user_agent(request),
            )
        except SignupThrottled as exc:
            response = message_page(request, lang, "title_too_many", "too_many_body", status=429)
            response.headers["Retry-After"] = str(int(exc.retry_after))
            return response
        except InvalidSubscriberInput as exc:
            errors = {name: problem_text(lang, name, p) for name, p in exc.problems.items()}
            return await context.database.run(
                signup_page, request, lang, values, errors=errors, status=400
            )
        except InvalidInputError:
            # The consent text changed between showing the form and submitting it.
            return await context.database.run(
                signup_page, request, lang, values, notice="consent_changed", status=400
            )
        runner.wake()
        return render(request, "sent.html", lang)

    # --- confirmation ------------------------------------------------------------------

    def confirm_outcome_page(request: Request, lang: str, result) -> Response:
        if result.state in (ConfirmState.CONFIRMED, ConfirmState.ALREADY):
            return render(
                request,
                "welcome.html",
                lang,
                {
                    "already": result.state is ConfirmState.ALREADY,
                    "name": result.name,
                    "preferences_url": f"/preferences/{result.token}",
                },
            )
        return message_page(request, lang, "title_invalid_link", "invalid_link_body", status=404)

    @router.get("/confirm/{token}", response_class=HTMLResponse)
    async def confirm_page(request: Request, token: str) -> Response:
        # A GET never confirms: mail scanners open links before people do.
        lang = choose_language(request)
        result = await context.database.run(subscriptions.check_confirmation, context, token)
        if result.state is ConfirmState.VALID:
            return render(request, "confirm.html", lang, {"name": result.name}, with_form=True)
        return confirm_outcome_page(request, lang, result)

    @router.post("/confirm/{token}", response_class=HTMLResponse)
    async def confirm_submit(request: Request, token: str) -> Response:
        form = await form_or_413(request)
        lang = choose_language(request, field(form, "lang") if form else None)
        if form is None or not csrf.valid(request, form):
            result = await context.database.run(subscriptions.check_confirmation, context, token)
            if result.state is ConfirmState.VALID:
                return render(
                    request,
                    "confirm.html",
                    lang,
                    {"name": result.name, "notice": "csrf_expired"},
                    status=400,
                    with_form=True,
                )
            return confirm_outcome_page(request, lang, result)
        result = await context.database.run(
            subscriptions.confirm,
            context,
            token,
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
        if result.state is ConfirmState.CONFIRMED:
            runner.wake()
        return confirm_outcome_page(request, lang, result)

    # --- unsubscribe (RFC 8058) --------------------------------------------------------

    @router.get("/unsubscribe/{token}", response_class=HTMLResponse)
    async def unsubscribe_page(request: Request, token: str) -> Response:
        # The same page for every token, known or not: it reveals nothing.
        return render(request, "unsubscribe.html", choose_language(request))

    @router.post("/unsubscribe/{token}", response_class=HTMLResponse)
    async def unsubscribe_one_click(request: Request, token: str) -> Response:
        """RFC 8058 §3.2: body ``List-Unsubscribe=One-Click``, no cookie, no CSRF; 200, never a redirect."""
        try:
            form = await read_form(request, limit=form_limit)
        except RequestTooLarge:
            form = None
        lang = choose_language(request, field(form, "lang") if form else None)
        if form is None or field(form, ONE_CLICK_KEY) != ONE_CLICK_VALUE:
            return render(request, "unsubscribe.html", lang)
        source = "unsubscribe-page" if field(form, "via") == "page" else "one-click"
        changed = await context.database.run(
            subscriptions.unsubscribe,
            context,
            token,
            source=source,
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
        if changed:
            runner.wake()
        return render(request, "unsubscribed.html", lang)

    # --- preferences -------------------------------------------------------------------

    def not_found(request: Request, lang: str) -> Response:
        return message_page(request, lang, "title_not_found", "not_found_body", status=404)

    def preferences_page(
        request: Request,
        lang: str,
        row: dict,
        *,
        done: str | None = None,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        values = values or {"name": row["name"] or "", "organisation": row["organisation"] or ""}
        return render(
            request,
            "preferences.html",
            lang,
            {
                "row": row,
                "status_key": f"status_{row['status']}",
                "done": done,
                "errors": errors or {},
                "values": values,
                "token": row["token"],
            },
            status=status,
            with_form=True,
        )

    @router.get("/preferences/{token}", response_class=HTMLResponse)
    async def preferences(request: Request, token: str) -> Response:
        lang = choose_language(request)
        row = await context.database.run(subscriptions.subscriber_for_token, context, token)
        if row is None:
            return not_found(request, lang)
        done = request.query_params.get("done")
        allowed = {"saved", "paused_done", "resumed_done"}
        return preferences_page(request, lang, row, done=done if done in allowed else None)

    @router.get("/preferences/{token}/data.json")
    async def my_data(request: Request, token: str) -> Response:
        data = await context.database.run(subscriptions.personal_data, context, token)
        if data is None:
            return not_found(request, choose_language(request))
        body = json.dumps(data, ensure_ascii=False, indent=2)
        response = Response(body, media_type="application/json; charset=utf-8")
        response.headers.update(SECURITY_HEADERS)
        response.headers["Content-Disposition"] = 'attachment; filename="my-subscription-data.json"'
        return response

    @router.post("/preferences/{token}/{action}", response_class=HTMLResponse)
    async def preferences_action(request: Request, token: str, action: str) -> Response:
        form = await form_or_413(request)
        if form is None:
            lang = choose_language(request)
            return message_page(request, lang, "title_too_large", "too_large_body", status=413)
        lang = choose_language(request, field(form, "lang"))
        row = await context.database.run(subscriptions.subscriber_for_token, context, token)
        if row is None or action not in {"profile", "pause", "resume", "unsubscribe", "erase"}:
            return not_found(request, lang)
        if not csrf.valid(request, form):
            return preferences_page(request, lang, row, done="csrf_expired", status=400)
        ip, agent = client_ip(request), user_agent(request)
        back = f"/preferences/{token}?lang={lang}"
        try:
            if action == "profile":
                await context.database.run(
                    subscriptions.update_profile,
                    context,
                    token,
                    name=field(form, "name"),
                    organisation=field(form, "organisation"),
                )
                return RedirectResponse(f"{back}&done=saved", status_code=303)
            if action in ("pause", "resume"):
                await context.database.run(
                    lambda: subscriptions.set_paused(
                        context, token, paused=action == "pause", ip=ip, user_agent=agent
                    ),
                )
                return RedirectResponse(f"{back}&done={action}d_done", status_code=303)
            if action == "unsubscribe":
                await context.database.run(
                    lambda: subscriptions.unsubscribe(
                        context, token, source="preferences", ip=ip, user_agent=agent
                    ),
                )
                runner.wake()
                return render(request, "unsubscribed.html", lang)
            # erase
            if field(form, "confirm") != "yes":
                errors = {"confirm": words[lang]["erase_confirm_required"]}
                return preferences_page(request, lang, row, errors=errors, status=400)
            await context.database.run(
                lambda: subscriptions.erase(context, token=token, source="preferences")
            )
            runner.wake()
            return message_page(request, lang, "title_erased", "erased_body", status=200)
        except InvalidSubscriberInput as exc:
            errors = {name: problem_text(lang, name, p) for name, p in exc.problems.items()}
            values = {"name": field(form, "name"), "organisation": field(form, "organisation")}
            return preferences_page(request, lang, row, errors=errors, values=values, status=400)
        except NotFoundError:
            return not_found(request, lang)

    return router

"""Public signup pages: the form (/subscribe) and the double opt-in confirmation (/confirm/{token}).

Database work never runs on the event loop: ``context.database`` hands it to the
context's database thread (SQLite) or the thread pool (PostgreSQL); notice mails are
sent by the delivery worker after the answer (``deps.mail_bell`` wakes it), never inside the request.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from mailer import subscribers
from mailer.context import AppContext
from mailer.errors import InvalidInputError, InvalidSubscriberInput, SignupThrottled
from mailer.subscribers import ConfirmResult, ConfirmState
from mailer.web.deps import Bell, Context, CsrfGuard
from mailer.web.forms import field
from mailer.web.i18n import choose_language
from mailer.web.pages import Pages, PublicPages, SubmittedForm, client_ip, user_agent

router = APIRouter()

#: The form fields shown again on an answer with problems (cut: a page echoes no megabytes).
SHOWN_FIELDS = ("email", "name", "organisation", "src")
SHOWN_LENGTH = 400


def _signup_page(
    pages: PublicPages,
    context: AppContext,
    request: Request,
    lang: str,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    """The signup form with the consent wording in force (blocking: run it off the loop)."""
    text = subscribers.current_consent_text(context, language=lang)
    return pages.render(
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


@router.get("/subscribe", response_class=HTMLResponse)
async def subscribe_form(request: Request, context: Context, pages: Pages) -> Response:
    lang = choose_language(request)
    query = request.query_params
    if query.get("done") == "sent":  # where a signup lands (POST-redirect-GET)
        return pages.render(request, "sent.html", lang)
    # Prefill from the embeddable snippet (a GET form on another site, see the CLI).
    values = {key: query.get(key, "")[:SHOWN_LENGTH] for key in SHOWN_FIELDS}
    return await context.database.run(_signup_page, pages, context, request, lang, values)


@router.post("/subscribe", response_class=HTMLResponse)
async def subscribe_submit(
    request: Request,
    context: Context,
    pages: Pages,
    csrf: CsrfGuard,
    bell: Bell,
    form: SubmittedForm,
) -> Response:
    if form is None:
        return pages.too_large(request, choose_language(request))
    lang = choose_language(request, field(form, "lang"))
    values = {key: field(form, key)[:SHOWN_LENGTH] for key in SHOWN_FIELDS}
    # The tick comes back only from the person's own POST, never from a link's query:
    # consent is given on this page, not prefilled by another site (issue 15, item 8).
    values["consent"] = "yes" if field(form, "consent") == "yes" else ""
    sent = RedirectResponse(f"/subscribe?done=sent&lang={lang}", status_code=303)
    if field(form, "website"):
        # Honeypot filled: a bot. Same answer as a real signup, nothing stored or sent.
        return sent
    if not csrf.valid(request, form):
        return await context.database.run(
            _signup_page, pages, context, request, lang, values, notice="csrf_expired", status=400
        )
    try:
        await context.database.run(
            subscribers.signup,
            context,
            field(form, "email"),
            name=field(form, "name"),
            organisation=field(form, "organisation"),
            consented=field(form, "consent") == "yes",
            consent_version=field(form, "consent_version") or None,
            source=subscribers.signup_source(values["src"]),
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
    except SignupThrottled as exc:
        response = pages.message(request, lang, "title_too_many", "too_many_body", status=429)
        response.headers["Retry-After"] = str(int(exc.retry_after))
        return response
    except InvalidSubscriberInput as exc:
        errors = pages.problem_texts(lang, exc.problems)
        return await context.database.run(
            _signup_page, pages, context, request, lang, values, errors=errors, status=400
        )
    except InvalidInputError as exc:
        # No consent version (a form not from this page), or the consent text changed
        # between showing the form and submitting it: the form again, with the text in force.
        notice = "consent_missing" if exc.field == "consent_version" else "consent_changed"
        return await context.database.run(
            _signup_page, pages, context, request, lang, values, notice=notice, status=400
        )
    bell.ring()
    return sent


# --- confirmation ------------------------------------------------------------------------


def _confirm_outcome_page(
    pages: PublicPages, request: Request, lang: str, result: ConfirmResult
) -> Response:
    if result.state in (ConfirmState.CONFIRMED, ConfirmState.ALREADY):
        return pages.render(
            request,
            "welcome.html",
            lang,
            {
                "already": result.state is ConfirmState.ALREADY,
                "name": result.name,
                "preferences_url": f"/preferences/{result.token}",
            },
        )
    return pages.message(request, lang, "title_invalid_link", "invalid_link_body", status=404)


@router.get("/confirm/{token}", response_class=HTMLResponse)
async def confirm_page(request: Request, token: str, context: Context, pages: Pages) -> Response:
    # A GET never confirms: mail scanners open links before people do.
    lang = choose_language(request)
    result = await context.database.run(subscribers.check_confirmation, context, token)
    if result.state is ConfirmState.VALID:
        return pages.render(request, "confirm.html", lang, {"name": result.name}, with_form=True)
    return _confirm_outcome_page(pages, request, lang, result)


@router.post("/confirm/{token}", response_class=HTMLResponse)
async def confirm_submit(
    request: Request,
    token: str,
    context: Context,
    pages: Pages,
    csrf: CsrfGuard,
    bell: Bell,
    form: SubmittedForm,
) -> Response:
    lang = choose_language(request, field(form, "lang") if form else None)
    if form is None or not csrf.valid(request, form):
        result = await context.database.run(subscribers.check_confirmation, context, token)
        if result.state is ConfirmState.VALID:
            return pages.render(
                request,
                "confirm.html",
                lang,
                {"name": result.name, "notice": "csrf_expired"},
                status=400,
                with_form=True,
            )
        return _confirm_outcome_page(pages, request, lang, result)
    result = await context.database.run(
        subscribers.confirm,
        context,
        token,
        ip=client_ip(request),
        user_agent=user_agent(request),
    )
    if result.state is ConfirmState.CONFIRMED:
        bell.ring()
    return _confirm_outcome_page(pages, request, lang, result)

"""Leaving or changing a subscription: one-click unsubscribe (RFC 8058) and the preferences page.

The preferences page (/preferences/{token}) changes the profile, pauses and resumes,
and unsubscribes. The permanent token every mail carries opens nothing more: the data
download and erasure are behind a short-lived link mailed on request (web/my_data.py,
issue 11, item 8). A token that names nobody is told so, never "unsubscribed", and
is offered the unsubscribe link by mail to an address, with the same answer for any
address (issue 15, item 5).
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from mailer import subscribers
from mailer.errors import InvalidSubscriberInput, NotFoundError
from mailer.web.address_form import submit_address_form
from mailer.web.deps import Bell, Context, CsrfGuard
from mailer.web.forms import field
from mailer.web.i18n import choose_language
from mailer.web.pages import (
    Pages,
    PublicPages,
    SubmittedForm,
    client_ip,
    user_agent,
)

router = APIRouter()

ONE_CLICK_KEY, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"

#: What ``?done=`` may announce on the preferences page (anything else is ignored).
DONE_NOTICES = frozenset({"saved", "paused_done", "resumed_done", "unsubscribed_done"})
ACTIONS = frozenset({"profile", "pause", "resume", "unsubscribe"})


# --- unsubscribe (RFC 8058) --------------------------------------------------------------


def _by_address_page(
    pages: PublicPages,
    request: Request,
    lang: str,
    *,
    unverified: bool = False,
    email: str = "",
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    """The address form; ``unverified`` says first that the link named nobody (nothing changed)."""
    values = {"unverified": unverified, "email": email, "errors": errors or {}, "notice": notice}
    return pages.render(
        request, "unsubscribe_by_address.html", lang, values, status=status, with_form=True
    )


def _unverified(pages: PublicPages, request: Request, lang: str) -> Response:
    # 404, never "unsubscribed": a reader whose mail client broke the link must not
    # believe she left while her address keeps getting mail (issue 15, item 5).
    return _by_address_page(pages, request, lang, unverified=True, status=404)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_page(
    request: Request, token: str, context: Context, pages: Pages
) -> Response:
    lang = choose_language(request)
    if not await context.database.run(subscribers.unsubscribe_token_known, context, token):
        return _unverified(pages, request, lang)
    return pages.render(request, "unsubscribe.html", lang)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_one_click(
    request: Request,
    token: str,
    context: Context,
    pages: Pages,
    bell: Bell,
    form: SubmittedForm,
) -> Response:
    """RFC 8058 §3.2: body ``List-Unsubscribe=One-Click``, no cookie, no CSRF; 200, never a redirect.

    A token that names nobody gets 404 and the honest page, never the success page.
    """
    lang = choose_language(request, field(form, "lang") if form else None)
    if form is None or field(form, ONE_CLICK_KEY) != ONE_CLICK_VALUE:
        return await unsubscribe_page(request, token, context, pages)
    source = "unsubscribe-page" if field(form, "via") == "page" else "one-click"
    changed = await context.database.run(
        subscribers.unsubscribe,
        context,
        token,
        source=source,
        ip=client_ip(request),
        user_agent=user_agent(request),
    )
    if changed:
        bell.ring()
    elif not await context.database.run(subscribers.unsubscribe_token_known, context, token):
        # Only the no-change answer pays for this second look-up: a known token that
        # changed nothing is an address already unsubscribed, and the success page is true.
        return _unverified(pages, request, lang)
    return pages.render(request, "unsubscribed.html", lang)


# --- unsubscribe by address (when a link cannot be verified) ----------------------------


@router.get("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_by_address_form(request: Request, pages: Pages) -> Response:
    lang = choose_language(request)
    if request.query_params.get("done") == "sent":  # where a request lands (POST-redirect-GET)
        return pages.render(request, "unsubscribe_sent.html", lang)
    return _by_address_page(pages, request, lang)


@router.post("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_by_address(
    request: Request,
    context: Context,
    pages: Pages,
    csrf: CsrfGuard,
    form: SubmittedForm,
) -> Response:
    return await submit_address_form(
        request,
        context,
        pages,
        csrf,
        form,
        use_case=subscribers.request_unsubscribe_link,
        form_page=partial(_by_address_page, pages),
        done_url="/unsubscribe",
    )


# --- preferences -------------------------------------------------------------------------


def _preferences_page(
    pages: PublicPages,
    request: Request,
    lang: str,
    row: dict,
    token: str,
    *,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    values = values or {"name": row["name"] or "", "organisation": row["organisation"] or ""}
    return pages.render(
        request,
        "preferences.html",
        lang,
        {
            "row": row,
            "status_key": f"status_{row['status']}",
            "done": done,
            "errors": errors or {},
            "values": values,
            "token": token,
        },
        status=status,
        with_form=True,
    )


@router.get("/preferences/{token}", response_class=HTMLResponse)
async def preferences(request: Request, token: str, context: Context, pages: Pages) -> Response:
    lang = choose_language(request)
    row = await context.database.run(subscribers.subscriber_for_token, context, token)
    if row is None:
        return pages.not_found(request, lang)
    done = request.query_params.get("done")
    done = done if done in DONE_NOTICES else None
    return _preferences_page(pages, request, lang, row, token, done=done)


@router.post("/preferences/{token}/{action}", response_class=HTMLResponse)
async def preferences_action(
    request: Request,
    token: str,
    action: str,
    context: Context,
    pages: Pages,
    csrf: CsrfGuard,
    bell: Bell,
    form: SubmittedForm,
) -> Response:
    if form is None:
        return pages.too_large(request, choose_language(request))
    lang = choose_language(request, field(form, "lang"))
    row = await context.database.run(subscribers.subscriber_for_token, context, token)
    if row is None or action not in ACTIONS:
        return pages.not_found(request, lang)
    if not csrf.valid(request, form):
        return _preferences_page(pages, request, lang, row, token, done="csrf_expired", status=400)
    ip, agent = client_ip(request), user_agent(request)
    back = f"/preferences/{token}?lang={lang}"
    try:
        if action == "profile":
            try:
                await context.database.run(
                    subscribers.update_profile,
                    context,
                    token,
                    name=field(form, "name"),
                    organisation=field(form, "organisation"),
                )
            except InvalidSubscriberInput as exc:
                errors = pages.problem_texts(lang, exc.problems)
                values = {"name": field(form, "name"), "organisation": field(form, "organisation")}
                return _preferences_page(
                    pages, request, lang, row, token, errors=errors, values=values, status=400
                )
            return RedirectResponse(f"{back}&done=saved", status_code=303)
        if action in ("pause", "resume"):
            await context.database.run(
                subscribers.set_paused,
                context,
                token,
                paused=action == "pause",
                ip=ip,
                user_agent=agent,
            )
            return RedirectResponse(f"{back}&done={action}d_done", status_code=303)
        await context.database.run(
            subscribers.unsubscribe,
            context,
            token,
            source="preferences",
            ip=ip,
            user_agent=agent,
        )
        bell.ring()
        return RedirectResponse(f"{back}&done=unsubscribed_done", status_code=303)
    except NotFoundError:
        return pages.not_found(request, lang)

"""Leaving or changing a subscription: one-click unsubscribe (RFC 8058) and the preferences page.

The preferences page (/preferences/{token}) changes the profile, pauses and resumes,
and unsubscribes. The permanent token every mail carries opens nothing more: the data
download and erasure are behind a short-lived link mailed on request (web/my_data.py,
issue 11, item 8). Every token gets the same answer whether it is known or not, so a
page reveals nothing about who subscribes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from mailer import subscribers
from mailer.errors import InvalidSubscriberInput, NotFoundError
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
DONE_NOTICES = frozenset({"saved", "paused_done", "resumed_done"})
ACTIONS = frozenset({"profile", "pause", "resume", "unsubscribe"})


# --- unsubscribe (RFC 8058) --------------------------------------------------------------


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_page(request: Request, token: str, pages: Pages) -> Response:
    # The same page for every token, known or not: it reveals nothing.
    return pages.render(request, "unsubscribe.html", choose_language(request))


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_one_click(
    request: Request,
    token: str,
    context: Context,
    pages: Pages,
    bell: Bell,
    form: SubmittedForm,
) -> Response:
    """RFC 8058 §3.2: body ``List-Unsubscribe=One-Click``, no cookie, no CSRF; 200, never a redirect."""
    lang = choose_language(request, field(form, "lang") if form else None)
    if form is None or field(form, ONE_CLICK_KEY) != ONE_CLICK_VALUE:
        return pages.render(request, "unsubscribe.html", lang)
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
    return pages.render(request, "unsubscribed.html", lang)


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
        return pages.render(request, "unsubscribed.html", lang)
    except NotFoundError:
        return pages.not_found(request, lang)

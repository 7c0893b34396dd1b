"""The schedules page (/admin/schedules): each schedule as a card, its edit form, pause/resume, "send now".

Issue 12 item 6. Every change goes through the schedules step's use cases, which check
``edit_schedules`` and write the audit row; "send now" goes through the digest step's
(``send_to_list``), with the delivery step's queueing handed in as the digest job does.
With htmx a card's forms replace only that card (errors come back with 200, since htmx
swaps no 4xx answer); without JavaScript they POST and redirect back to the page, or
show the page again with the error beside its field.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from mailer import delivery, digest, schedules, staff
from mailer.errors import InvalidInputError, NotFoundError
from mailer.web.admin.pages import Admin, StaffSession, client
from mailer.web.admin.routes import _form, _in, _redirect
from mailer.web.admin.schedule_cards import ScheduleForm, card_for, error_text, parse_time
from mailer.web.forms import field
from mailer.web.i18n import choose_language

router = APIRouter(prefix="/admin/schedules")

PAGE = "/admin/schedules"
NEXT_RUNS = 5


def _htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def _views(request: Request) -> list[schedules.ScheduleView]:
    context = request.app.state.context
    return await context.database.run(schedules.list_schedule_views, context, count=NEXT_RUNS)


async def _page(request, admin, lang, *, replaced=None, status=200, values=None) -> Response:
    """The whole page; ``replaced`` is the card (with its errors or notice) shown instead of the stored one."""
    words = admin.words[lang]
    notice = _notice(request, words)
    cards = []
    for view in await _views(request):
        if replaced is not None and replaced.view.name == view.name:
            cards.append(replaced)
        else:
            named = request.query_params.get("name") == view.name
            cards.append(card_for(view, words, lang, notice=notice if named else None))
    values = {"cards": cards, "sent": _sent(request, words), **(values or {})}
    return admin.render(request, "schedules.html", values, status=status, lang=lang)


def _notice(request: Request, words: dict[str, str]) -> str | None:
    done = request.query_params.get("done", "")
    key = {
        "saved": "schedule_saved",
        "paused": "schedule_paused_done",
        "resumed": "schedule_resumed_done",
    }
    return words[key[done]] if done in key else None


def _sent(request: Request, words: dict[str, str]) -> str | None:
    """The line after a confirmed "send now" (the numbers come back in the redirect)."""
    number, to = request.query_params.get("sent", ""), request.query_params.get("to", "")
    if not number.isdigit():
        return None
    if to.isdigit():
        return words["send_now_done"].replace("{number}", number).replace("{subscribers}", to)
    return words["send_now_again"].replace("{number}", number)


async def _answer(request, admin, lang, card, *, done: str, status: int = 200) -> Response:
    """After a card's form: htmx gets the card; a plain form the redirect or the page with its error."""
    if _htmx(request):
        return admin.render(request, "schedules_card.html", {"card": card}, lang=lang)
    if card.errors:
        return await _page(request, admin, lang, replaced=card, status=status)
    return _redirect(f"{PAGE}?done={done}&name={card.view.name}#schedule-{card.view.name}", lang)


@router.get("")
async def schedules_page(request: Request, admin: Admin, session: StaffSession) -> Response:
    staff.require(session, "edit_schedules")
    return await _page(request, admin, choose_language(request))


@router.post("/save")
async def save(request: Request, admin: Admin, session: StaffSession) -> Response:
    form = await _form(request, admin)
    # Checked again by the use case; first here, so an editor learns nothing from the form's errors.
    staff.require(session, "edit_schedules")
    lang = choose_language(request, field(form, "lang"))
    words, context = admin.words[lang], request.app.state.context
    name = field(form, "name")
    typed = ScheduleForm(
        days=tuple(day for day in form.getlist("days") if isinstance(day, str)),
        time=field(form, "time")[:8],
        cron=field(form, "cron")[:200],
        timezone=field(form, "timezone")[:100],
        advanced=field(form, "mode") == "cron",
    )
    try:
        if typed.advanced:
            cron = typed.cron
        else:
            hour, minute = parse_time(typed.time)
            cron = schedules.cron_for(typed.days, hour=hour, minute=minute)
        view = await context.database.run(
            schedules.set_schedule,
            context,
            name,
            cron,
            timezone=typed.timezone or None,
            account=session,
            client=client(request),
        )
    except NotFoundError:
        return admin.message(request, "admin_not_found_title", "admin_not_found_body", status=404)
    except InvalidInputError as error:
        where, message = error_text(error, words, lang)
        view = await context.database.run(
            schedules.get_schedule_view, context, name, count=NEXT_RUNS
        )
        card = card_for(view, words, lang, form=typed, errors={where: message})
        return await _answer(request, admin, lang, card, done="", status=422)
    view = await context.database.run(schedules.get_schedule_view, context, name, count=NEXT_RUNS)
    card = card_for(view, words, lang, notice=words["schedule_saved"])
    return await _answer(request, admin, lang, card, done="saved")


async def _switch(request: Request, admin, session, use_case, done: str, notice: str) -> Response:
    form = await _form(request, admin)
    lang = choose_language(request, field(form, "lang"))
    context = request.app.state.context
    try:
        await context.database.run(
            use_case, context, field(form, "name"), account=session, client=client(request)
        )
        view = await context.database.run(
            schedules.get_schedule_view, context, field(form, "name"), count=NEXT_RUNS
        )
    except NotFoundError:
        return admin.message(request, "admin_not_found_title", "admin_not_found_body", status=404)
    words = admin.words[lang]
    return await _answer(
        request, admin, lang, card_for(view, words, lang, notice=words[notice]), done=done
    )


@router.post("/pause")
async def pause(request: Request, admin: Admin, session: StaffSession) -> Response:
    return await _switch(
        request, admin, session, schedules.pause_schedule, "paused", "schedule_paused_done"
    )


@router.post("/resume")
async def resume(request: Request, admin: Admin, session: StaffSession) -> Response:
    return await _switch(
        request, admin, session, schedules.resume_schedule, "resumed", "schedule_resumed_done"
    )


@router.get("/send-now")
async def send_now_page(request: Request, admin: Admin, session: StaffSession) -> Response:
    context = request.app.state.context
    plan = await context.database.run(digest.send_now_plan, context, session)
    return admin.render(request, "schedules_send_now.html", {"plan": plan})


@router.post("/send-now")
async def send_now(request: Request, admin: Admin, session: StaffSession) -> Response:
    form = await _form(request, admin)
    lang = choose_language(request, field(form, "lang"))
    context = request.app.state.context
    try:
        sent = await context.database.run(
            digest.send_now, context, session, queue=delivery.queue_edition, client=client(request)
        )
    except InvalidInputError as error:
        plan = await context.database.run(digest.send_now_plan, context, session)
        values = {"plan": plan, "error": _in(lang, str(error))}
        return admin.render(request, "schedules_send_now.html", values, status=422, lang=lang)
    context.mail_bell.ring()
    to = f"&to={sent.plan.subscribers}" if sent.fresh else ""
    return _redirect(f"{PAGE}?sent={sent.number}{to}", lang)

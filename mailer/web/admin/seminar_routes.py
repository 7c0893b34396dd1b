"""The seminar and sender page (/admin/seminar, issue 12 item 7): the block's form, its versions, rollback.

The handlers call the digest step's use cases; the role checks that count are
theirs (``edit_seminar``; ``change_compliance`` for the sender part). "Add a
session" posts the form back with one more empty row and saves nothing, so it
works without JavaScript.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from mailer import digest, staff
from mailer.errors import NotFoundError, RequestTooLarge
from mailer.web.admin.pages import Admin, StaffSession, client
from mailer.web.admin.seminar_form import (
    MAX_ROWS,
    document_of,
    empty_row,
    posted_values,
    row_errors,
    values_of,
)
from mailer.web.forms import field, read_form
from mailer.web.i18n import choose_language
from mailer.web.pages import NO_STORE

router = APIRouter(prefix="/admin/seminar")

#: The block's form carries every session; Korean text is nine bytes a character once
#: percent-encoded, so it may be larger than a signup form.
FORM_LIMIT = 256 * 1024
#: Ten fields a session row, for as many rows as the form takes, and the rest.
MAX_FIELDS = 10 * MAX_ROWS + 60


def _in(lang: str, message: str) -> str:
    """A use case's "한국어 / English" message in the page's language."""
    korean, _, english = message.partition(" / ")
    return english if lang == "en" and english else korean


async def _form(request: Request, admin) -> FormData:
    try:
        form = await read_form(
            request, limit=max(admin.form_limit, FORM_LIMIT), max_fields=MAX_FIELDS
        )
    except RequestTooLarge:
        form = FormData()
    admin.check_csrf(request, form)
    return form


def _redirect(query: str, lang: str) -> Response:
    url = f"/admin/seminar?{query}" + (f"&lang={lang}" if lang != "ko" else "")
    response = RedirectResponse(url, status_code=303)
    response.headers.update(NO_STORE)
    return response


async def _page(
    request: Request,
    admin,
    session,
    *,
    values: dict,
    errors: dict | None = None,
    status: int = 200,
    lang: str | None = None,
    notice: str | None = None,
) -> Response:
    context = request.app.state.context
    block = await context.database.run(digest.current_block, context)
    versions = await context.database.run(digest.block_versions, context)
    page = {
        "block": block,
        "versions": versions,
        "form": values,
        "errors": errors or {},
        "may_change_sender": staff.allowed(session, "change_compliance"),
        "notice": notice,
    }
    return admin.render(request, "seminar.html", page, status=status, lang=lang)


@router.get("")
async def seminar_page(request: Request, admin: Admin, session: StaffSession) -> Response:
    staff.require(session, "edit_seminar")
    context = request.app.state.context
    block = await context.database.run(digest.current_block, context)
    lang = choose_language(request)
    words = admin.words[lang]
    notice = None
    number = request.query_params.get("version", "")
    done = request.query_params.get("done")
    if done in ("saved", "rolled_back") and number.isdigit():
        key = "seminar_saved" if done == "saved" else "seminar_rolled_back"
        notice = words[key].replace("{number}", number)
    values = values_of(block.document, block.past)
    return await _page(request, admin, session, values=values, notice=notice)


@router.post("")
async def save_seminar(request: Request, admin: Admin, session: StaffSession) -> Response:
    form = await _form(request, admin)
    staff.require(session, "edit_seminar")
    lang = choose_language(request, field(form, "lang"))
    context = request.app.state.context
    block = await context.database.run(digest.current_block, context)
    values = posted_values(form, block.document, block.past)
    if field(form, "action") == "add_row":
        values["rows"].append(empty_row())
        return await _page(request, admin, session, values=values, lang=lang)
    document, rows = document_of(values, block.document)
    try:
        number = await context.database.run(
            digest.save_block,
            context,
            session,
            document,
            note=values["fields"]["note"],
            client=client(request),
        )
    except digest.BlockInvalid as invalid:
        problems = {path: _in(lang, text) for path, text in invalid.problems.items()}
        errors = row_errors(problems, rows)
        return await _page(
            request, admin, session, values=values, errors=errors, status=422, lang=lang
        )
    return _redirect(f"done=saved&version={number}", lang)


@router.post("/rollback")
async def rollback_seminar(request: Request, admin: Admin, session: StaffSession) -> Response:
    form = await _form(request, admin)
    staff.require(session, "edit_seminar")
    lang = choose_language(request, field(form, "lang"))
    number = field(form, "number")
    context = request.app.state.context
    try:
        if not number.isdigit() or len(number) > 9:
            raise NotFoundError("seminar block version", number)
        await context.database.run(
            digest.rollback_block, context, session, int(number), client=client(request)
        )
    except NotFoundError:
        # A version that does not exist (a stale page, a forged number): say so, change nothing.
        block = await context.database.run(digest.current_block, context)
        values = values_of(block.document, block.past)
        notice = admin.words[lang]["version_missing"].replace("{number}", number[:12])
        return await _page(
            request, admin, session, values=values, status=422, lang=lang, notice=notice
        )
    return _redirect(f"done=rolled_back&version={number}", lang)

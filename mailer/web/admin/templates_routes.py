"""The template pages (/admin/templates): the list, the editor with live preview, save, test send, versions, diff, rollback, reset.

Issue 12 items 4 and 5. Every handler calls use cases of ``mailer.digest`` (and
``mailer.delivery`` for the test send); the role checks that count are theirs, the
pages merely ask ``staff.require`` first so that a refusal is the 403 page. The
editor works without script: its buttons post the form and the page comes back
with the text as typed; with script (``static/admin/templates.js``) the preview
follows her typing through the ``/preview`` fragment.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from mailer import delivery, digest, staff
from mailer.errors import DeliveryError, InvalidInputError, NotFoundError, RequestTooLarge
from mailer.web.admin import templates_views as views
from mailer.web.admin.pages import Admin, StaffSession, client
from mailer.web.forms import field, read_form
from mailer.web.i18n import choose_language
from mailer.web.pages import NO_STORE

router = APIRouter(prefix="/admin/templates")

#: A posted template may be much larger than a sign-up form (the digest's HTML is about
#: 15 KB, and Korean triples in a urlencoded body); beyond this it is refused whole.
FORM_LIMIT = 512 * 1024
#: The longest note kept with a version.
NOTE_LIMIT = 200

#: The HTML part in its iframe: never a script (the ``sandbox`` directive holds even
#: when the part is opened on its own), images from https only (the stories' own),
#: framed only by our admin pages; links open outside the frame.
PART_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)


class _TooLarge(Exception):
    pass


async def _form(request: Request, admin) -> FormData:
    """The posted form with its CSRF token checked; a body over FORM_LIMIT is a 413 page."""
    try:
        form = await read_form(request, limit=FORM_LIMIT)
    except RequestTooLarge:
        raise _TooLarge() from None
    admin.check_csrf(request, form)
    return form


def _known(name: str) -> None:
    if name not in digest.EDITABLE_TEMPLATES:
        raise HTTPException(status_code=404)


def _context(request: Request):
    return request.app.state.context


def _values(request: Request, admin, lang: str, name: str | None = None) -> dict:
    values = views.page_values(request, admin.words[lang], lang)
    if name is not None:
        values.update(name=name, label=views.label(name, admin.words[lang], lang))
    return values


@router.get("")
async def list_page(request: Request, admin: Admin, session: StaffSession) -> Response:
    staff.require(session, "edit_templates")
    lang = choose_language(request)
    context = _context(request)
    listed = await context.database.run(digest.list_templates, context)
    active = {version.name: version for version in listed}
    names = list(digest.EDITABLE_TEMPLATES)
    values = _values(request, admin, lang)
    values["groups"] = views.groups(names, active, admin.words[lang], lang)
    return admin.render(request, "templates_list.html", values, lang=lang)


@router.get("/preview/{key}")
async def preview_part(key: str, request: Request, admin: Admin, session: StaffSession) -> Response:
    """A rendered HTML part for the editor's iframes: only to the session that rendered it."""
    html = views.previews(request).get(session.id, key)
    if html is None:
        lang = choose_language(request)
        html, status = f"<p>{admin.words[lang]['tpl_preview_gone']}</p>", 410
    else:
        html, status = views.links_outside(html), 200
    headers = {"Content-Security-Policy": PART_CSP, **NO_STORE}
    return HTMLResponse(html, status_code=status, headers=headers)


async def _editor(
    request: Request,
    admin,
    session: staff.Session,
    name: str,
    lang: str,
    *,
    source: str | None = None,
    status: int = 200,
    **extra,
) -> Response:
    context = _context(request)
    versions = await context.database.run(digest.template_versions, context, name)
    active = next((version for version in versions if version.active), None)
    variables = digest.template_variables(name)
    values = _values(request, admin, lang, name)
    values.update(
        active=active,
        source=(active.source if active else "") if source is None else source,
        variables=variables,
        completions=views.completions(variables, lang),
        note="",
        notice=None,
        failure=None,
        save_problem=None,
        saved_warnings=(),
        preview=None,
        frame_url=None,
    )
    values.update(extra)
    return admin.render(request, "templates_edit.html", values, status=status, lang=lang)


@router.get("/{name}")
async def editor_page(request: Request, name: str, admin: Admin, session: StaffSession) -> Response:
    staff.require(session, "edit_templates")
    _known(name)
    return await _editor(request, admin, session, name, choose_language(request))


async def _preview(request: Request, name: str, source: str):
    context = _context(request)
    return await context.database.run(_render_preview, context, name, source)


def _render_preview(context, name: str, source: str):
    return digest.preview_templates(context, name, overrides={name: source})


@router.post("/{name}/preview")
async def preview(request: Request, name: str, admin: Admin, session: StaffSession) -> Response:
    """The preview of the posted text: the fragment for the editor's script, or the whole page."""
    staff.require(session, "preview")
    _known(name)
    try:
        form = await _form(request, admin)
    except _TooLarge:
        return _too_large(request, admin)
    lang = choose_language(request, field(form, "lang"))
    source = field(form, "source")
    rendered = await _preview(request, name, source)
    shown = views.preview_values(request, session.id, rendered)
    if request.headers.get("HX-Request") == "true":
        values = {**_values(request, admin, lang, name), **shown}
        return admin.render(request, "templates_preview.html", values, lang=lang)
    return await _editor(
        request, admin, session, name, lang, source=source, note=_note(form), **shown
    )


def _note(form: FormData) -> str:
    return field(form, "note")[:NOTE_LIMIT]


@router.post("/{name}/save")
async def save(request: Request, name: str, admin: Admin, session: StaffSession) -> Response:
    _known(name)
    try:
        form = await _form(request, admin)
    except _TooLarge:
        return _too_large(request, admin)
    lang = choose_language(request, field(form, "lang"))
    source, note = field(form, "source"), _note(form)
    context = _context(request)
    words = admin.words[lang]
    try:
        saved = await context.database.run(
            _save, context, session, name, source, note, client(request)
        )
    except digest.TemplateRefused as refused:
        # Nothing is stored; the page comes back with her text as typed and the error at its line.
        return await _editor(
            request,
            admin,
            session,
            name,
            lang,
            source=source,
            note=note,
            status=422,
            failure=words["tpl_save_refused"],
            save_problem=refused.problem,
        )
    notice = words["tpl_saved"].replace("{number}", str(saved.version.number))
    return await _editor(
        request, admin, session, name, lang, notice=notice, saved_warnings=saved.warnings
    )


def _save(context, session, name: str, source: str, note: str, address: str | None):
    return digest.save_template(context, session, name, source, note=note, client=address)


@router.post("/{name}/test-send")
async def test_send(request: Request, name: str, admin: Admin, session: StaffSession) -> Response:
    """The preview of the posted text (saved or not) to the staff member's own address."""
    staff.require(session, "test_send_to_self")
    _known(name)
    try:
        form = await _form(request, admin)
    except _TooLarge:
        return _too_large(request, admin)
    lang = choose_language(request, field(form, "lang"))
    source, words = field(form, "source"), admin.words[lang]
    rendered = await _preview(request, name, source)
    shown = views.preview_values(request, session.id, rendered)
    page = {"source": source, "note": _note(form), **shown}
    if rendered.problem is not None:
        return await _editor(
            request,
            admin,
            session,
            name,
            lang,
            status=422,
            failure=words["tpl_test_refused"],
            **page,
        )
    context = _context(request)
    try:
        await delivery.send_test_edition(
            context,
            session,
            subject=rendered.subject,
            html=rendered.html or "",
            text=rendered.text or "",
            client=client(request),
        )
    except (DeliveryError, InvalidInputError) as error:
        failure = words["tpl_test_failed"].replace("{message}", views.in_language(lang)(error))
        return await _editor(
            request, admin, session, name, lang, status=502, failure=failure, **page
        )
    notice = words["tpl_test_sent"].replace("{email}", session.email)
    return await _editor(request, admin, session, name, lang, notice=notice, **page)


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None


@router.get("/{name}/versions")
async def versions_page(
    request: Request, name: str, admin: Admin, session: StaffSession
) -> Response:
    staff.require(session, "edit_templates")
    _known(name)
    lang = choose_language(request)
    return await _versions(request, admin, name, lang)


async def _versions(
    request: Request, admin, name: str, lang: str, *, status: int = 200, **extra
) -> Response:
    context = _context(request)
    versions = await context.database.run(digest.template_versions, context, name)
    query = request.query_params
    old, new = _number(query.get("old")), _number(query.get("new"))
    diff, failure = None, extra.pop("failure", None)
    if old is not None and new is not None:
        try:
            lines = await context.database.run(digest.diff_versions, context, name, old, new)
            diff = views.around_changes(lines)
        except NotFoundError:
            failure, status = admin.words[lang]["tpl_unknown_version"], 404
    elif versions:
        # Without a choice the pickers offer the active version against the one before it.
        numbers = sorted(version.number for version in versions)
        active = next((v.number for v in versions if v.active), numbers[-1])
        earlier = [number for number in numbers if number < active]
        old, new = (earlier[-1] if earlier else active), active
    values = _values(request, admin, lang, name)
    values.update(
        versions=sorted(versions, key=lambda version: version.number, reverse=True),
        diff=diff,
        old=old,
        new=new,
        notice=None,
        failure=failure,
    )
    values.update(extra)
    return admin.render(request, "templates_versions.html", values, status=status, lang=lang)


@router.post("/{name}/rollback")
async def rollback(request: Request, name: str, admin: Admin, session: StaffSession) -> Response:
    _known(name)
    try:
        form = await _form(request, admin)
    except _TooLarge:
        return _too_large(request, admin)
    lang = choose_language(request, field(form, "lang"))
    words = admin.words[lang]
    number = _number(field(form, "number"))
    context = _context(request)
    try:
        if number is None:
            raise NotFoundError("no version number")
        saved = await context.database.run(
            _rollback, context, session, name, number, client(request)
        )
    except NotFoundError:
        return await _versions(
            request, admin, name, lang, status=404, failure=words["tpl_unknown_version"]
        )
    except digest.TemplateRefused as refused:
        failure = views.in_language(lang)(refused.problem.message)
        return await _versions(request, admin, name, lang, status=422, failure=failure)
    notice = (
        words["tpl_rolled_back"]
        .replace("{old}", str(number))
        .replace("{number}", str(saved.version.number))
    )
    return await _versions(request, admin, name, lang, notice=notice)


def _rollback(context, session, name: str, number: int, address: str | None):
    return digest.rollback_template(context, session, name, number, client=address)


@router.post("/{name}/reset")
async def reset(request: Request, name: str, admin: Admin, session: StaffSession) -> Response:
    _known(name)
    try:
        form = await _form(request, admin)
    except _TooLarge:
        return _too_large(request, admin)
    lang = choose_language(request, field(form, "lang"))
    context = _context(request)
    saved = await context.database.run(_reset, context, session, name, client(request))
    notice = admin.words[lang]["tpl_reset_done"].replace("{number}", str(saved.version.number))
    return await _versions(request, admin, name, lang, notice=notice)


def _reset(context, session, name: str, address: str | None):
    return digest.reset_template(context, session, name, client=address)


def _too_large(request: Request, admin) -> Response:
    return admin.message(request, "title_too_large", "too_large_body", status=413)

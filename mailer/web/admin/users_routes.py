"""The users page (/admin/users, admins only): the list, adding a user, disable, enable and a new link.

Issue 12 items 1 and 3. A one-time link is shown once, on the page that answers the
add or reset (never stored, never in a redirect's address). Every change is audited by
the use case, which also checks ``manage_users``; the page checks it first only so
that an editor sees the 403 page before typing anything.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from mailer import staff
from mailer.errors import InvalidInputError, NotFoundError
from mailer.web.admin.local_time import local_time
from mailer.web.admin.pages import Admin, StaffSession, client
from mailer.web.admin.routes import _form
from mailer.web.forms import field
from mailer.web.i18n import choose_language
from mailer.web.pages import NO_STORE

router = APIRouter(prefix="/admin/users")

#: The row actions: path → (use case, the notice after it).
_ACTIONS = {
    "disable": (staff.disable_user, "users_disabled"),
    "enable": (staff.enable_user, "users_enabled"),
}


async def _page(
    request: Request, admin, values: dict | None = None, *, status: int = 200, lang=None
) -> Response:
    context = request.app.state.context
    users = await context.database.run(staff.list_users, context)
    values = {
        "users": users,
        "local": local_time(context.settings.zone),
        "errors": {},
        "typed": {"email": "", "role": "editor"},
        **(values or {}),
    }
    return admin.render(request, "users.html", values, status=status, lang=lang)


def _done(notice: str, email: str, lang: str) -> Response:
    query = {"done": notice, "who": email, **({"lang": lang} if lang != "ko" else {})}
    url = "/admin/users?" + urlencode(query)
    response = RedirectResponse(url, status_code=303)
    response.headers.update(NO_STORE)
    return response


def _refusal(error: Exception, *, adding: bool = False) -> str:
    """The word key of a use case's refusal (its own message is for the CLI, in English)."""
    if isinstance(error, NotFoundError):
        return "users_not_found"
    if adding:
        return "users_exists" if "exists" in str(error) else "users_bad_email"
    if "only enabled admin" in str(error):
        return "users_last_admin"
    return "users_reset_disabled"


@router.get("")
async def users_page(request: Request, admin: Admin, session: StaffSession) -> Response:
    staff.require(session, "manage_users")
    done = request.query_params.get("done", "")
    notice = done if done in {"users_disabled", "users_enabled"} else None
    who = request.query_params.get("who", "")[:320]
    return await _page(request, admin, {"notice": notice, "notice_email": who})


@router.post("")
async def add_user(request: Request, admin: Admin, session: StaffSession) -> Response:
    staff.require(session, "manage_users")
    form = await _form(request, admin)
    lang = choose_language(request, field(form, "lang"))
    email, role = field(form, "email")[:320], field(form, "role")
    context = request.app.state.context
    errors: dict[str, str] = {}
    if role not in ("admin", "editor"):
        errors["role"] = admin.words[lang]["users_bad_role"]
    else:
        try:
            user, link = await context.database.run(
                staff.add_user, context, email, role=role, account=session, client=client(request)
            )
        except InvalidInputError as error:
            errors["email"] = admin.words[lang][_refusal(error, adding=True)]
        else:
            return await _page(request, admin, {"link": link, "link_user": user}, lang=lang)
    values = {"errors": errors, "typed": {"email": email, "role": role}}
    return await _page(request, admin, values, status=422, lang=lang)


@router.post("/reset")
async def reset_user(request: Request, admin: Admin, session: StaffSession) -> Response:
    staff.require(session, "manage_users")
    form = await _form(request, admin)
    lang = choose_language(request, field(form, "lang"))
    context = request.app.state.context
    try:
        link = await context.database.run(
            staff.reset_link, context, field(form, "email"), account=session, client=client(request)
        )
    except (InvalidInputError, NotFoundError) as error:
        values = {"row_error": _refusal(error), "notice_email": field(form, "email")[:320]}
        return await _page(request, admin, values, status=422, lang=lang)
    return await _page(request, admin, {"link": link, "reset": True}, lang=lang)


async def _row_action(request: Request, admin, session, name: str) -> Response:
    staff.require(session, "manage_users")
    form = await _form(request, admin)
    lang = choose_language(request, field(form, "lang"))
    use_case, notice = _ACTIONS[name]
    context = request.app.state.context
    try:
        user = await context.database.run(
            use_case, context, field(form, "email"), account=session, client=client(request)
        )
    except (InvalidInputError, NotFoundError) as error:
        values = {"row_error": _refusal(error), "notice_email": field(form, "email")[:320]}
        return await _page(request, admin, values, status=422, lang=lang)
    return _done(notice, user.email, lang)


@router.post("/disable")
async def disable_user(request: Request, admin: Admin, session: StaffSession) -> Response:
    return await _row_action(request, admin, session, "disable")


@router.post("/enable")
async def enable_user(request: Request, admin: Admin, session: StaffSession) -> Response:
    return await _row_action(request, admin, session, "enable")

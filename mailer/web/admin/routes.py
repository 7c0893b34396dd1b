"""The admin's pages: log-in, log-out, set a password with a one-time link, the home, change password.

Issue 12 items 1, 3, 8 and 9. Every handler calls use cases of ``mailer.staff`` only;
the role checks are ``staff.require`` there, the pages merely hide what a role lacks.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from mailer import staff
from mailer.errors import InvalidInputError, RequestTooLarge
from mailer.web.admin.pages import Admin, MaybeSession, StaffSession, client, local_next
from mailer.web.forms import field, read_form
from mailer.web.i18n import choose_language
from mailer.web.pages import NO_STORE

router = APIRouter(prefix="/admin")


async def _form(request: Request, admin) -> FormData:
    """The POSTed form, capped, with its CSRF token checked (CsrfRefused → 403 at the edge)."""
    try:
        form = await read_form(request, limit=admin.form_limit)
    except RequestTooLarge:
        form = FormData()
    admin.check_csrf(request, form)
    return form


def _redirect(url: str, lang: str) -> Response:
    if lang != "ko":
        url += ("&" if "?" in url else "?") + f"lang={lang}"
    response = RedirectResponse(url, status_code=303)
    response.headers.update(NO_STORE)
    return response


def _in(lang: str, message: str) -> str:
    """A use case's "한국어 / English" message in the page's language."""
    korean, _, english = message.partition(" / ")
    return english if lang == "en" and english else korean


@router.get("/login")
async def login_page(request: Request, admin: Admin, session: MaybeSession) -> Response:
    lang = choose_language(request)
    next_path = local_next(request.query_params.get("next", ""))
    if session is not None:
        return _redirect(next_path, lang)
    done = request.query_params.get("done")
    notice = {"out": "logged_out", "set": "password_saved"}.get(done or "")
    return admin.render(request, "login.html", {"next": next_path, "notice": notice})


@router.post("/login")
async def log_in(request: Request, admin: Admin, _session: MaybeSession) -> Response:
    # A visitor already logged in (a second tab) checks with the session's CSRF token.
    form = await _form(request, admin)
    lang = choose_language(request, field(form, "lang"))
    email, next_path = field(form, "email"), local_next(field(form, "next"))
    context = request.app.state.context
    try:
        token, _user = await context.database.run(
            staff.log_in, context, email, field(form, "password"), client=client(request)
        )
    except staff.LoginThrottled:
        minutes = f"{context.settings.admin.login_window_minutes:g}"
        error, status = admin.words[lang]["login_throttled"].replace("{minutes}", minutes), 429
    except staff.LoginRefused:
        error, status = admin.words[lang]["login_refused"], 401
    else:
        response = _redirect(next_path, lang)
        admin.set_session_cookie(response, token)
        return response
    values = {"next": next_path, "error": error, "email": email[:320]}
    return admin.render(request, "login.html", values, status=status, lang=lang)


@router.post("/logout")
async def log_out(request: Request, admin: Admin, session: StaffSession) -> Response:
    form = await _form(request, admin)
    context = request.app.state.context
    await context.database.run(staff.log_out, context, session, client=client(request))
    response = _redirect("/admin/login?done=out", choose_language(request, field(form, "lang")))
    admin.clear_session_cookie(response)
    return response


async def _open(request: Request, token: str) -> staff.OpenLink | None:
    context = request.app.state.context
    try:
        return await context.database.run(staff.open_link, context, token)
    except InvalidInputError:
        return None


@router.get("/set-password/{token}")
async def set_password_page(
    request: Request, token: str, admin: Admin, _session: MaybeSession
) -> Response:
    opened = await _open(request, token)
    if opened is None:
        return admin.message(request, "link_dead_title", "link_dead_body", status=404)
    return admin.render(request, "set_password.html", {"link": opened})


@router.post("/set-password/{token}")
async def set_password(
    request: Request, token: str, admin: Admin, _session: MaybeSession
) -> Response:
    form = await _form(request, admin)
    lang = choose_language(request, field(form, "lang"))
    opened = await _open(request, token)
    if opened is None:
        return admin.message(request, "link_dead_title", "link_dead_body", status=404)
    password, email = field(form, "password"), field(form, "email")
    errors: dict[str, str] = {}
    if password != field(form, "password_again"):
        errors["password_again"] = admin.words[lang]["password_mismatch"]
    else:
        context = request.app.state.context
        try:
            user = await context.database.run(
                staff.set_password_with_link, context, token, password, email=email or None
            )
        except InvalidInputError as error:
            if error.field == "token":
                return admin.message(request, "link_dead_title", "link_dead_body", status=404)
            errors[error.field or "password"] = _in(lang, str(error))
        else:
            await context.database.run(
                staff.audit,
                context,
                "staff.password_set",
                actor=user.email,
                client=client(request),
                target=opened.purpose,
                after={"role": user.role},
            )
            return _redirect("/admin/login?done=set", lang)
    values = {"link": opened, "errors": errors, "email": email[:320]}
    return admin.render(request, "set_password.html", values, status=422, lang=lang)


@router.get("")
async def home(request: Request, admin: Admin, session: StaffSession) -> Response:
    staff.require(session, "use_admin")
    return admin.render(request, "home.html")


@router.get("/password")
async def password_page(request: Request, admin: Admin, _session: StaffSession) -> Response:
    done = request.query_params.get("done") == "changed"
    return admin.render(request, "password.html", {"changed": done})


@router.post("/password")
async def change_password(request: Request, admin: Admin, session: StaffSession) -> Response:
    form = await _form(request, admin)
    lang = choose_language(request, field(form, "lang"))
    new = field(form, "password")
    errors: dict[str, str] = {}
    if new != field(form, "password_again"):
        errors["password_again"] = admin.words[lang]["password_mismatch"]
    else:
        context = request.app.state.context
        try:
            token, _user = await context.database.run(
                staff.change_password,
                context,
                session,
                field(form, "current"),
                new,
                client=client(request),
            )
        except InvalidInputError as error:
            if error.field == "current":
                errors["current"] = admin.words[lang]["current_wrong"]
            else:
                errors["password"] = _in(lang, str(error))
        else:
            response = _redirect("/admin/password?done=changed", lang)
            admin.set_session_cookie(response, token)
            return response
    return admin.render(request, "password.html", {"errors": errors}, status=422, lang=lang)

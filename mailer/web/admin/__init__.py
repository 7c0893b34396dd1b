"""The staff admin under /admin (issue 12): its routes, and the edge that turns its refusals into pages.

``install(app)`` adds the router and the handlers: no session → a redirect to the
log-in page (only a local ``next``), a role without the permission or a bad CSRF
token → a 403 page, an unknown admin page → a 404 page, all in the admin's look,
never JSON.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException

from mailer import staff
from mailer.web.admin import (
    audit_routes,
    routes,
    schedules_routes,
    seminar_routes,
    templates_routes,
    users_routes,
)
from mailer.web.admin.pages import (
    AdminPages,
    CsrfRefused,
    LoginNeeded,
    login_redirect,
    optional_session,
)

__all__ = ["install"]

#: The admin's routers: each page (or group of pages) has its own module.
ROUTERS = (
    routes.router,
    templates_routes.router,
    schedules_routes.router,
    seminar_routes.router,
    users_routes.router,
    audit_routes.router,
)


def install(app: FastAPI) -> None:
    """Add the admin to an app whose state already holds the context, pages and CSRF."""
    app.state.admin_pages = AdminPages(app.state)
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(LoginNeeded, _login_needed)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(staff.PermissionDenied, _forbidden)
    app.add_exception_handler(HTTPException, _admin_http_error)


async def _login_needed(request: Request, exc: Exception) -> Response:
    return login_redirect(request)


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    return request.app.state.admin_pages.message(request, "csrf_title", "csrf_body", status=403)


async def _forbidden(request: Request, exc: Exception) -> Response:
    return request.app.state.admin_pages.message(
        request, "forbidden_title", "forbidden_body", status=403
    )


async def _admin_http_error(request: Request, exc: Exception) -> Response:
    """Unknown admin pages (and wrong methods) in the admin's look; elsewhere FastAPI's default."""
    path = request.url.path
    if not (path == "/admin" or path.startswith("/admin/")) or not isinstance(exc, HTTPException):
        return await http_exception_handler(request, exc)
    if await optional_session(request) is None:
        return login_redirect(request)
    return request.app.state.admin_pages.message(
        request, "admin_not_found_title", "admin_not_found_body", status=exc.status_code
    )

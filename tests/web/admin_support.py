"""The staff admin served for a test: an app on a migrated database, staff accounts, logged-in clients, and the route table.

:data:`ADMIN_ROUTES` is the one list of admin routes and who may use each; the
authorisation matrix (tests/web/test_admin_access.py) walks it, and a test fails when
the app has an /admin route missing from it, so each new admin page joins it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from mailer import staff
from mailer.bootstrap import build_context
from mailer.context import AppContext
from mailer.seed import DEFAULT_SCHEDULES
from mailer.store.db import write_transaction
from mailer.store.schedules import ensure_schedule
from tests.helpers import listening_socket
from tests.served_app import client, serve_app
from tests.web.serve_support import hidden

#: A password the policy accepts, for every staff account of the tests.
PASSWORD = "시흥 바이오 세미나 2027"

#: Who may use a route: anyone (the log-in and link pages), any staff role, admins only.
ANYONE, STAFF, ADMIN = "anyone", "staff", "admin"


@dataclass(frozen=True)
class AdminRoute:
    method: str
    path: str
    who: str
    #: Form fields a POST sends besides the CSRF token (enough to pass validation or not).
    form: tuple[tuple[str, str], ...] = ()


ADMIN_ROUTES = [
    AdminRoute("GET", "/admin/login", ANYONE),
    AdminRoute("POST", "/admin/login", ANYONE, (("email", "nobody@example.kr"),)),
    AdminRoute("GET", "/admin/set-password/{token}", ANYONE),
    AdminRoute("POST", "/admin/set-password/{token}", ANYONE),
    AdminRoute("GET", "/admin", STAFF),
    AdminRoute("POST", "/admin/logout", STAFF),
    AdminRoute("GET", "/admin/password", STAFF),
    AdminRoute("POST", "/admin/password", STAFF),
    AdminRoute("GET", "/admin/audit", ADMIN),
    AdminRoute("GET", "/admin/seminar", STAFF),
    AdminRoute("POST", "/admin/seminar", STAFF, (("rows", "0"), ("note", "matrix"))),
    AdminRoute("POST", "/admin/seminar/rollback", STAFF, (("number", "1"),)),
    AdminRoute("GET", "/admin/templates", STAFF),
    AdminRoute("GET", "/admin/templates/preview/{key}", STAFF),
    AdminRoute("GET", "/admin/templates/{name}", STAFF),
    AdminRoute("GET", "/admin/templates/{name}/versions", STAFF),
    AdminRoute("POST", "/admin/templates/{name}/preview", STAFF, (("source", "주간 소식"),)),
    AdminRoute("POST", "/admin/templates/{name}/save", STAFF, (("source", "주간 소식"),)),
    # A source with an error: the test send is refused before anything is sent.
    AdminRoute("POST", "/admin/templates/{name}/test-send", STAFF, (("source", "{% if %}"),)),
    AdminRoute("POST", "/admin/templates/{name}/rollback", STAFF, (("number", "1"),)),
    AdminRoute("POST", "/admin/templates/{name}/reset", STAFF),
    AdminRoute("GET", "/admin/schedules", ADMIN),
    AdminRoute("POST", "/admin/schedules/save", ADMIN, (("name", "digest"), ("time", "10:00"))),
    AdminRoute("POST", "/admin/schedules/pause", ADMIN, (("name", "digest"),)),
    AdminRoute("POST", "/admin/schedules/resume", ADMIN, (("name", "digest"),)),
    AdminRoute("GET", "/admin/schedules/send-now", ADMIN),
    AdminRoute("POST", "/admin/schedules/send-now", ADMIN),
    AdminRoute("GET", "/admin/users", ADMIN),
    AdminRoute("POST", "/admin/users", ADMIN, (("email", "park@example.kr"), ("role", "editor"))),
    AdminRoute("POST", "/admin/users/reset", ADMIN, (("email", "editor@example.kr"),)),
    AdminRoute("POST", "/admin/users/disable", ADMIN, (("email", "editor@example.kr"),)),
    AdminRoute("POST", "/admin/users/enable", ADMIN, (("email", "editor@example.kr"),)),
]

#: A value for each path parameter of ADMIN_ROUTES besides the one-time ``{token}``.
PATH_SAMPLES = {"{name}": "digest.subject.j2", "{key}": "no-such-preview"}


@dataclass
class AdminSite:
    base: str
    context: AppContext
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self) -> httpx.Client:
        """A new visitor (closed with the site)."""
        http = client(self.base)
        self.clients.append(http)
        return http

    def log_in(self, email: str, password: str = PASSWORD, **extra: str) -> httpx.Client:
        """A client holding a session of ``email`` (asserts that the log-in worked)."""
        http = self.client()
        response = submit(http, "/admin/login", email=email, password=password, **extra)
        assert response.status_code == 303, response.text
        return http

    def audit(self, action: str) -> list[dict]:
        return [row for row in staff.recent_audit(self.context) if row["action"] == action]


@contextmanager
def admin_site(make_settings, database_url: str, **settings) -> Iterator[AdminSite]:
    """A served app whose base URL is its own address (``base_url`` in ``settings`` wins)."""
    sock = listening_socket()
    settings.setdefault("base_url", f"http://127.0.0.1:{sock.getsockname()[1]}")
    context = build_context(make_settings(database_url=database_url, **settings))
    seed_schedules(context)
    try:
        with serve_app(context, sock=sock, worker=False) as base:
            site = AdminSite(base, context)
            try:
                yield site
            finally:
                for http in site.clients:
                    http.close()
    finally:
        context.close()


def seed_schedules(context: AppContext) -> None:
    """The default schedules ``mailer init`` makes, so the schedules page has its cards."""
    with write_transaction(context.engine) as conn:
        for name, kind, cron, grace in DEFAULT_SCHEDULES:
            ensure_schedule(
                conn, name, kind=kind, cron=cron, timezone="Asia/Seoul", grace_seconds=grace
            )


def add_staff(site: AdminSite, email: str, role: str) -> None:
    staff.add_user(site.context, email, role=role, password=PASSWORD)


def submit(http: httpx.Client, path: str, *, form_page: str | None = None, **fields: str):
    """GET the form's page (``form_page`` or ``path``), then POST ``fields`` with its CSRF token."""
    page = http.get(form_page or path)
    assert page.status_code == 200, page.text
    data = {"csrf_token": hidden(page.text, "csrf_token"), **fields}
    return http.post(path, data=data)


def token_path(link: staff.PasswordLink) -> str:
    return "/admin/set-password/" + link.url.rsplit("/admin/set-password/", 1)[1]

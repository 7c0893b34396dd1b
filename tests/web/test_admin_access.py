"""Who may use which admin route: the matrix over ADMIN_ROUTES for anonymous, editor and admin, and the pages of a refusal."""

from __future__ import annotations

import pytest

from mailer import staff
from mailer.web.app import create_app
from tests.web.admin_support import (
    ADMIN,
    ADMIN_ROUTES,
    ANYONE,
    PATH_SAMPLES,
    STAFF,
    AdminSite,
    add_staff,
    admin_site,
    token_path,
)
from tests.web.serve_support import get_routes, hidden


def test_every_admin_route_of_the_app_is_in_the_matrix(context):
    listed = {(route.method, route.path) for route in ADMIN_ROUTES}
    served = {
        (method, path)
        for path, methods in get_routes(create_app(context, worker=False))
        if path == "/admin" or path.startswith("/admin/")
        for method in methods - {"HEAD"}
    }
    assert served == listed


def _ask(site: AdminSite, http, route, token: str):
    path = route.path.replace("{token}", token)
    for parameter, sample in PATH_SAMPLES.items():
        path = path.replace(parameter, sample)
    if route.method == "GET":
        return http.get(path)
    # A valid CSRF token for this visitor, so that only the role decides.
    # (A logged-in visitor's forms carry the session's token, anyone else's the public one.)
    page = http.get("/admin" if "mailer_admin" in http.cookies else path.replace("/logout", ""))
    data = dict(route.form)
    if page.status_code == 200:
        data["csrf_token"] = hidden(page.text, "csrf_token")
    return http.post(path, data=data)


@pytest.mark.parametrize("who", ["anonymous", "editor", "admin"])
def test_the_authorisation_matrix(make_settings, database_url, who):
    with admin_site(make_settings, database_url) as site:
        add_staff(site, "admin@example.kr", "admin")
        add_staff(site, "editor@example.kr", "editor")
        for route in ADMIN_ROUTES:
            # Each route gets a fresh visitor: log-out must not end the next route's session.
            http = site.client() if who == "anonymous" else site.log_in(f"{who}@example.kr")
            _user, link = staff.add_user(
                site.context, f"new-{len(site.clients)}@example.kr", role="editor"
            )
            token = token_path(link).rsplit("/", 1)[1]
            response = _ask(site, http, route, token)
            allowed = route.who == ANYONE or (
                who != "anonymous" and (route.who == STAFF or who == ADMIN)
            )
            label = (who, route.method, route.path, response.status_code)
            if response.status_code != 303:
                assert response.headers["content-type"].startswith("text/html"), label
            if allowed:
                # A refused password (401 from the log-in form) is an answer, not a refusal of access.
                assert response.status_code not in (403, 404, 405), label
                if response.status_code == 303:
                    assert not response.headers["location"].startswith("/admin/login?next"), label
            elif who == "anonymous":
                assert response.status_code == 303, label
                assert response.headers["location"].startswith("/admin/login?next=%2Fadmin"), label
            else:
                assert response.status_code == 403, label
                assert "권한이 없습니다" in response.text, label


def test_unknown_admin_pages_are_404_pages_for_staff_and_a_login_for_others(
    make_settings, database_url
):
    with admin_site(make_settings, database_url) as site:
        add_staff(site, "editor@example.kr", "editor")
        anonymous, editor = site.client(), site.log_in("editor@example.kr")
        missing = editor.get("/admin/no-such-page")
        assert missing.status_code == 404 and "페이지를 찾을 수 없습니다" in missing.text
        assert missing.headers["content-type"].startswith("text/html")
        assert "관리자 홈으로" in missing.text and "로그아웃" in missing.text
        wrong_method = editor.get("/admin/logout")
        assert wrong_method.status_code == 405 and "페이지를 찾을 수 없습니다" in wrong_method.text
        assert anonymous.get("/admin/no-such-page").headers["location"] == (
            "/admin/login?next=%2Fadmin%2Fno-such-page"
        )
        # Outside /admin the answers stay as they were.
        assert anonymous.get("/no-such-page").status_code == 404


def test_the_admin_speaks_english_when_asked(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        page = site.client().get("/admin/login?lang=en")
        assert '<html lang="en">' in page.text and "Staff log-in" in page.text
        assert 'href="/admin/login?lang=ko"' in page.text


def test_the_public_home_page_links_the_admin_log_in(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        home = site.client().get("/")
        assert '<a href="/admin/login?lang=ko">관리자</a>' in home.text


def test_roles_allow_what_issue_12_says():
    class Account:
        def __init__(self, role: str) -> None:
            self.role = role

    for permission in (
        "edit_templates",
        "edit_seminar",
        "edit_feeds",
        "preview",
        "test_send_to_self",
    ):
        staff.require(Account("editor"), permission)
    for permission in (
        "send_to_list",
        "manage_users",
        "change_compliance",
        "export_subscribers",
        "erase_subscribers",
        "view_audit",
    ):
        with pytest.raises(staff.PermissionDenied):
            staff.require(Account("editor"), permission)
    for permission in staff.PERMISSIONS:
        staff.require(Account("admin"), permission)

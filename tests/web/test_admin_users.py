"""The users page over real HTTP: the list, adding a user shows a link that works, disable/enable/new link, errors beside the field, editors and forged forms refused."""

from __future__ import annotations

import re

from tests.web.admin_support import PASSWORD, add_staff, admin_site, submit
from tests.web.serve_support import hidden

LINK = re.compile(r'<code id="one-time-link">(http[^<]+)</code>')


def web_rows(site, action: str) -> list[dict]:
    """The audit rows of ``action`` made through the page (the set-up's accounts are the CLI's)."""
    return [row for row in site.audit(action) if row["actor"] != "cli"]


def test_an_admin_adds_a_user_whose_link_sets_the_password(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        add_staff(site, "kim@example.kr", "admin")
        http = site.log_in("kim@example.kr")
        page = http.get("/admin/users")
        assert page.status_code == 200
        assert "kim@example.kr" in page.text and "관리자" in page.text and "사용 중" in page.text

        added = submit(http, "/admin/users", email="Lee@Example.kr", role="editor")
        assert added.status_code == 200, added.text
        assert "lee@example.kr 계정을 만들었습니다" in added.text
        assert "한 번만 쓸 수 있고" in added.text and "KST" in added.text
        url = LINK.search(added.text).group(1)
        assert "비밀번호 설정 대기" in added.text and "편집자" in added.text
        [row] = web_rows(site, "user.add")
        assert (row["actor"], row["target"]) == ("kim@example.kr", "lee@example.kr")
        assert row["client_address"] == "127.0.0.1"

        # The link works: a stranger's browser sets the password, then logs in.
        path = url.split(site.base, 1)[1]
        newcomer = site.client()
        saved = submit(newcomer, path, password=PASSWORD, password_again=PASSWORD)
        assert saved.status_code == 303, saved.text
        site.log_in("lee@example.kr")
        assert "사용 중" in http.get("/admin/users").text


def test_errors_stand_beside_the_field_and_keep_what_was_typed(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        add_staff(site, "kim@example.kr", "admin")
        http = site.log_in("kim@example.kr")
        bad = submit(http, "/admin/users", email="not an address", role="admin")
        assert bad.status_code == 422
        assert 'id="email-error">이메일 주소 형식이 아닙니다' in bad.text
        assert 'value="not an address"' in bad.text
        assert '<option value="admin" selected>' in bad.text
        twice = submit(http, "/admin/users", email="kim@example.kr", role="editor")
        assert twice.status_code == 422 and 'id="email-error">이미 있는 계정입니다' in twice.text
        assert web_rows(site, "user.add") == []


def test_disable_enable_and_a_new_link(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        add_staff(site, "kim@example.kr", "admin")
        add_staff(site, "lee@example.kr", "editor")
        http, editor = site.log_in("kim@example.kr"), site.log_in("lee@example.kr")
        done = submit(
            http, "/admin/users/disable", form_page="/admin/users", email="lee@example.kr"
        )
        assert done.status_code == 303
        page = http.get(done.headers["location"])
        assert "lee@example.kr 계정을 사용 중지했습니다" in page.text and "사용 중지" in page.text
        assert 'action="/admin/users/enable"' in page.text
        # The disabled editor's session has ended.
        assert editor.get("/admin").status_code == 303
        enabled = submit(
            http, "/admin/users/enable", form_page="/admin/users", email="lee@example.kr"
        )
        assert enabled.status_code == 303
        reset = submit(http, "/admin/users/reset", form_page="/admin/users", email="lee@example.kr")
        assert reset.status_code == 200 and LINK.search(reset.text)
        assert "비밀번호를 지우고 새 링크를 만들었습니다" in reset.text
        last = submit(
            http, "/admin/users/disable", form_page="/admin/users", email="kim@example.kr"
        )
        assert last.status_code == 422 and "하나뿐인 관리자라" in last.text
        actions = [row["action"] for row in site.audit("user.disable")] + [
            row["action"] for row in site.audit("user.enable") + site.audit("user.reset")
        ]
        assert sorted(actions) == ["user.disable", "user.enable", "user.reset"]


def test_an_editor_gets_403_and_a_forged_form_is_refused(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        add_staff(site, "kim@example.kr", "admin")
        add_staff(site, "lee@example.kr", "editor")
        editor = site.log_in("lee@example.kr")
        page = editor.get("/admin/users")
        assert page.status_code == 403 and "권한이 없습니다" in page.text
        token = hidden(editor.get("/admin").text, "csrf_token")
        refused = editor.post(
            "/admin/users", data={"csrf_token": token, "email": "x@example.kr", "role": "admin"}
        )
        assert refused.status_code == 403
        admin = site.log_in("kim@example.kr")
        forged = admin.post("/admin/users", data={"email": "x@example.kr", "role": "admin"})
        assert forged.status_code == 403 and "보안 확인에 실패했습니다" in forged.text
        other = admin.post(
            "/admin/users/disable", data={"csrf_token": token, "email": "lee@example.kr"}
        )
        assert other.status_code == 403
        assert "x@example.kr" not in admin.get("/admin/users").text
        assert web_rows(site, "user.add") == [] and web_rows(site, "user.disable") == []

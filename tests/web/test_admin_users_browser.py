"""The users and audit pages in Chromium at 375 px and 1024 px: add a user by keyboard, the link, disable; the audit filters swap the list (htmx) and push the address.

Screenshots are kept under ``$MAILER_TEST_SCREENSHOTS/admin`` (default: this test's tmp dir).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from mailer import staff
from tests.web.admin_support import PASSWORD
from tests.web.test_every_page import Photographer, sqlite_only


@sqlite_only
def test_the_users_and_audit_pages_fit_and_work(site, browser, screenshots):
    base, ctx = site
    staff.add_user(ctx, "kim@example.kr", role="admin", password=PASSWORD)
    start = datetime(2025, 12, 2, 7, 42, tzinfo=UTC)
    for minute in range(110):
        staff.audit(
            ctx,
            "staff.login",
            actor="kim@example.kr",
            client="192.0.2.1",
            now=start + timedelta(minutes=minute),
        )
    shots = screenshots / "admin"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="ko-KR", viewport={"width": 375, "height": 800})
    page = context.new_page()
    camera = Photographer(page, shots)
    try:
        page.goto(f"{base}/admin/users")
        page.fill("#email", "kim@example.kr")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/admin/users")
        camera.look("users")

        page.fill("#email", "lee-with-a-rather-long-address@example.kr")
        page.select_option("#role", "editor")
        page.focus("#email")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.locator("#one-time-link").inner_text().startswith(base)
        camera.look("users-link")

        page.fill("#email", "not an address")
        page.click("text=추가하고 링크 만들기")
        assert page.locator("#email-error").is_visible()
        assert page.input_value("#email") == "not an address"
        camera.look("users-error")

        page.click("li:has-text('lee-with-a-rather-long-address') >> text=사용 중지")
        assert "사용 중지했습니다" in page.inner_text("main")
        camera.look("users-disabled")

        page.goto(f"{base}/admin/audit")
        camera.look("audit-filters")
        page.select_option("#action", "user.")
        page.click("form.filters button[type=submit]")
        # htmx swaps the list and pushes the filtered address (no page load).
        # Polled from here: a predicate run in the page would need 'unsafe-eval', which the
        # admin's CSP refuses.
        expect(page).to_have_url(re.compile(r"[?&]action=user\."))
        page.wait_for_selector("#audit-list >> text=사용자 사용 중지")
        assert "사용자 사용 중지" in page.inner_text("#audit-list")
        assert "상태: 비밀번호 설정 대기 → 사용 중지" in page.inner_text("#audit-list")
        camera.look("audit-filtered")

        page.goto(f"{base}/admin/audit?account=kim%40example.kr")
        page.click("a.older")
        expect(page).to_have_url(re.compile(r"[?&]older="))
        page.wait_for_selector("#audit-list >> text=최신 기록으로")
        assert "최신 기록으로" in page.inner_text("#audit-list")
        camera.look("audit-older")
    finally:
        context.close()
    assert not camera.problems, "\n".join([*camera.problems, f"(screenshots in {shots})"])

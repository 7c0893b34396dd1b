"""The staff admin in Chromium at 375 px and 1024 px: the first admin's link, log-in by keyboard alone, the home, audit, password, log-out.

Each page must fit, have a font for every character and keep words whole (the checks
of tests/web/test_every_page.py); the screenshots are kept under
``$MAILER_TEST_SCREENSHOTS/admin`` (default: this test's pytest tmp dir).
"""

from __future__ import annotations

from mailer import staff
from tests.web.admin_support import PASSWORD
from tests.web.test_every_page import Photographer, sqlite_only


@sqlite_only
def test_the_first_admin_sets_a_password_logs_in_by_keyboard_and_looks_around(
    site, browser, screenshots
):
    base, ctx = site
    link = staff.first_admin_link(ctx)
    shots = screenshots / "admin"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="ko-KR", viewport={"width": 375, "height": 800})
    page = context.new_page()
    camera = Photographer(page, shots)
    try:
        page.goto(f"{base}/")
        page.click("footer.site >> text=관리자")
        assert page.url.endswith("/admin/login?lang=ko")
        camera.look("login")

        page.goto(link.url)
        camera.look("first-admin")
        page.fill("#email", "kim@example.kr")
        page.fill("#password", "password123")
        page.fill("#password_again", "password123")
        page.click("button[type=submit]")
        assert page.locator("#password-error").is_visible()
        camera.look("first-admin-error")
        page.fill("#password", PASSWORD)
        page.fill("#password_again", PASSWORD)
        page.click("button[type=submit]")
        assert "비밀번호를 저장했습니다" in page.inner_text("main")
        camera.look("login-after-set")

        # Keyboard alone: the address field has the focus, Tab goes on, Enter sends.
        page.keyboard.type("kim@example.kr")
        page.keyboard.press("Tab")
        page.keyboard.type("wrong password here")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "비밀번호가 맞지 않습니다" in page.inner_text("main")
        camera.look("login-error")
        page.fill("#password", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/admin")
        assert "감사 기록" in page.inner_text("nav.admin")
        camera.look("home")
        page.click("text=감사 기록")
        assert "staff.login_failed" in page.inner_text("main")
        camera.look("audit")
        page.goto(f"{base}/admin/password")
        camera.look("password")
        page.goto(f"{base}/admin/templates")
        camera.look("not-found")
        page.goto(f"{base}/admin?lang=en")
        camera.look("home-en", korean=False)
        page.click("nav.admin button")
        page.wait_for_url("**/admin/login?done=out**")
        camera.look("logged-out-en", korean=False)

        # An editor asking for an admin-only page gets the 403 page in the admin's look.
        staff.add_user(ctx, "lee@example.kr", role="editor", password=PASSWORD)
        page.goto(f"{base}/admin/audit")
        page.fill("#email", "lee@example.kr")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/admin/audit")
        assert "권한이 없습니다" in page.inner_text("main")
        camera.look("forbidden")
    finally:
        context.close()
    assert not camera.problems, "\n".join([*camera.problems, f"(screenshots in {shots})"])

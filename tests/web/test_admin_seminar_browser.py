"""The seminar page in Chromium at 375 px and 1024 px: change a session by keyboard, a mistake beside its field, add a session, a past session, English, the editor's locked sender.

Screenshots are kept under ``$MAILER_TEST_SCREENSHOTS/admin`` (default: this test's
pytest tmp dir), named ``seminar-*``.
"""

from __future__ import annotations

from mailer import digest, staff
from tests.web.admin_support import PASSWORD
from tests.web.test_every_page import Photographer, sqlite_only


def _log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/admin/login?next=/admin/seminar")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/admin/seminar")


@sqlite_only
def test_staff_edit_the_seminar_block_in_the_browser(site, browser, screenshots):
    base, ctx = site
    staff.add_user(ctx, "kim@example.kr", role="admin", password=PASSWORD)
    staff.add_user(ctx, "lee@example.kr", role="editor", password=PASSWORD)
    shots = screenshots / "admin"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="ko-KR", viewport={"width": 375, "height": 800})
    page = context.new_page()
    camera = Photographer(page, shots)
    try:
        _log_in(page, base, "kim@example.kr")
        assert "세미나와 발신자 정보" in page.inner_text("h1")
        camera.look("seminar")

        # Keyboard alone: type a new date into the first session, Enter saves.
        page.focus("#sessions-0-date")
        page.fill("#sessions-0-date", "2027-03-31")
        page.focus("#sessions-0-speakers")
        page.keyboard.type("김바이오 교수 (한국공학대학교)")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "저장했습니다 (버전 2)" in page.inner_text("main")
        assert page.input_value("#sessions-0-date") == "2027-03-31"
        camera.look("seminar-saved")

        # A mistake: the message under its field, what was typed still there.
        page.fill("#contact-phone", "전화 주세요")
        page.fill("#series-summary", "고쳐 쓰는 중인 소개")
        page.click("form[action='/admin/seminar'] button[value=save]:not(.trap)")
        assert page.locator("#contact-phone-error").is_visible()
        assert page.input_value("#series-summary") == "고쳐 쓰는 중인 소개"
        camera.look("seminar-error")

        # Add a session (no script needed), fill it with a date already past: kept, marked.
        page.fill("#contact-phone", "070-7784-3185")
        page.click("text=회차 추가")
        rows = page.locator("fieldset.session").count()
        last = rows - 2  # the row just added, before the new empty one
        page.fill(f"#sessions-{last}-id", "2026-4")
        page.fill(f"#sessions-{last}-number", "4")
        page.fill(f"#sessions-{last}-date", "2026-11-20")
        page.fill(f"#sessions-{last}-start", "14:00")
        page.fill(f"#sessions-{last}-title", "지난해 마지막 회")
        page.click("form[action='/admin/seminar'] button[value=save]:not(.trap)")
        page.wait_for_url("**/admin/seminar?done=saved**")
        assert page.locator(".past-mark").count() == 1
        page.locator(".past-mark").scroll_into_view_if_needed()
        camera.look("seminar-past")

        page.goto(f"{base}/admin/seminar?lang=en")
        camera.look("seminar-en", korean=False)

        # The editor: the sender's fields are there but locked, with the reason.
        page.click("nav.admin button")
        page.wait_for_url("**/admin/login?done=out**")
        _log_in(page, base, "lee@example.kr")
        assert page.locator("#sender-phone").is_disabled()
        assert page.locator("#sender-advertisement").is_disabled()
        assert "관리자만 바꿀 수 있습니다" in page.inner_text("#sender-locked")
        page.locator("#sender-locked").scroll_into_view_if_needed()
        camera.look("seminar-editor")
    finally:
        context.close()
    assert [v.number for v in digest.block_versions(ctx)] == [3, 2, 1]
    assert not camera.problems, "\n".join([*camera.problems, f"(screenshots in {shots})"])

"""The schedules page in Chromium at 375 px and 1024 px: the cards, a save through htmx, an error, send now.

The checks of tests/web/test_every_page.py (fits, every glyph, words whole); the
screenshots are kept under ``$MAILER_TEST_SCREENSHOTS/admin``.
"""

from __future__ import annotations

from mailer import staff
from tests.web.admin_support import PASSWORD
from tests.web.test_admin_schedules import seed_news_and_readers
from tests.web.test_every_page import Photographer, sqlite_only


@sqlite_only
def test_an_admin_moves_the_digest_and_sends_now_in_the_browser(site, browser, screenshots):
    base, ctx = site
    staff.add_user(ctx, "kim@example.kr", role="admin", password=PASSWORD)
    seed_news_and_readers(ctx)
    shots = screenshots / "admin"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="ko-KR", viewport={"width": 375, "height": 800})
    page = context.new_page()
    camera = Photographer(page, shots)
    try:
        page.goto(f"{base}/admin/schedules")
        page.fill("#email", "kim@example.kr")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/admin/schedules")
        card = page.locator("#schedule-digest")
        assert "매주 월요일 오전 9:00 (Asia/Seoul)" in card.inner_text()
        camera.look("schedules")

        # htmx: only the card is replaced, the page stays (no navigation).
        page.uncheck("#schedule-digest-mon")
        page.check("#schedule-digest-tue")
        page.fill("#schedule-digest-time", "10:00")
        page.click("#schedule-digest button[value=days]")
        page.wait_for_selector("#schedule-digest >> text=매주 화요일 오전 10:00 (Asia/Seoul)")
        assert page.url == f"{base}/admin/schedules"
        camera.look("schedules-saved")

        page.click("#schedule-digest summary")
        page.fill("#schedule-digest-cron", "0 9 * *")
        page.click("#schedule-digest button[value=cron]")
        page.wait_for_selector("#schedule-digest-cron-error")
        assert page.input_value("#schedule-digest-cron") == "0 9 * *"
        camera.look("schedules-error")

        page.click("text=지금 보내기")
        page.wait_for_url("**/admin/schedules/send-now**")
        assert "구독자 3명에게 기사 2건을 지금 보냅니다. 계속할까요?" in page.inner_text("main")
        camera.look("send-now-confirm")
        page.click("button.danger")
        page.wait_for_url("**/admin/schedules?sent=1**")
        assert "제1호를 만들어" in page.inner_text("main")
        camera.look("send-now-done")
        page.goto(f"{base}/admin/schedules?lang=en")
        camera.look("schedules-en", korean=False)
    finally:
        context.close()
    assert not camera.problems, "\n".join([*camera.problems, f"(screenshots in {shots})"])

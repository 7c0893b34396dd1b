"""Every public page, and the mails a reader gets on the way, photographed in Chromium at 375 px and 1024 px.

A reader's journey through a real uvicorn server and a real SMTP relay (issue 15 item 12):
home, signup (with a field error, then sent), the mailed confirmation link, welcome,
unsubscribe, preferences, the data request and its mailed link, the archive, the pages
for broken links, and the development outbox; in Korean, and the GET pages in English
too. Each page, at each width, must not scroll sideways, must have a font for every
character it shows (Korean in an installed Korean font, not boxes), must not cut a word
in two, and — the public pages — must carry the site's header, footer and language
switch. The screenshots are kept under ``$MAILER_TEST_SCREENSHOTS/every-page`` (default:
this test's pytest tmp dir), one PNG per page and width.
"""

from __future__ import annotations

import mailbox
from types import SimpleNamespace

import pytest

from mailer import subscribers as subscriptions
from mailer.bootstrap import build_context
from tests.helpers import link_token
from tests.served_app import serve_app
from tests.support.browser import subscriber
from tests.support.page_checks import missing_glyphs, sideways_scroll, split_words
from tests.web.serve_support import confirmation_path
from tests.web.test_archive import publish_week
from tests.web.test_my_data import data_link_mail

WIDTHS = (375, 1024)

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Photographer:
    """Looks at the page in the browser at every width, keeps a PNG of each, notes what is wrong."""

    def __init__(self, page, directory) -> None:
        self.page = page
        self.directory = directory
        self.problems: list[str] = []
        self.taken: list[str] = []

    def look(self, name: str, *, korean: bool = True, chrome: bool = True) -> None:
        page = self.page
        page.wait_for_load_state("load")
        if chrome:
            for selector in ("header.site", "footer.site", "header.site a[hreflang]"):
                if page.locator(selector).count() != 1:
                    self.problems.append(
                        f"{name}: no {selector} (the site's header, footer, switch)"
                    )
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            where = f"{name} at {width}px"
            if (overflow := sideways_scroll(page)) > 0:
                self.problems.append(f"{where} scrolls sideways by {overflow}px")
            if split := split_words(page):
                self.problems.append(f"{where} cuts words in two: {split[:8]}")
            missing, hangul = missing_glyphs(page)
            if missing:
                self.problems.append(f"{where} has no font for " + "; ".join(map(str, missing[:5])))
            if korean and not hangul:
                self.problems.append(f"{where} shows no Korean text (wrong page or language?)")
            path = self.directory / f"{name}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
            self.taken.append(path.name)


@sqlite_only
def test_every_page_fits_has_its_glyphs_and_keeps_words_whole(
    site, browser, smtp_server, screenshots, make_settings, database_url
):
    base, ctx = site
    publish_week(SimpleNamespace(context=ctx))
    subscriptions.add_subscriber(
        ctx, "reader@example.kr", name="김독자", confirmed=True, notify=False
    )
    token = link_token(subscriber(ctx, "reader@example.kr"))
    shots = screenshots / "every-page"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="ko-KR", viewport={"width": 375, "height": 800})
    page = context.new_page()
    camera = Photographer(page, shots)
    try:
        page.goto(f"{base}/")
        camera.look("home")
        page.goto(f"{base}/subscribe")
        camera.look("subscribe")
        page.fill("#email", "not an address")
        page.check("#consent")
        page.click("button[type=submit]")
        camera.look("subscribe-error")
        page.fill("#email", "new.reader@example.kr")
        page.fill("#name", "새독자")
        page.check("#consent")
        page.click("button[type=submit]")
        camera.look("sent")
        page.goto(base + confirmation_path(smtp_server, "new.reader@example.kr"))
        camera.look("confirm")
        page.click("button[type=submit]")
        camera.look("welcome")
        page.goto(f"{base}/confirm/not-a-token-0123456789")
        camera.look("confirm-invalid")
        page.goto(f"{base}/preferences/{token}")
        camera.look("preferences")
        page.goto(f"{base}/my-data")
        camera.look("data-request")
        page.fill("#email", "reader@example.kr")
        page.click("button[type=submit]")
        camera.look("data-sent")
        page.goto(data_link_mail(smtp_server, "reader@example.kr"))
        camera.look("my-data")
        page.goto(f"{base}/my-data/expired-or-forged-token-0123")
        camera.look("data-link-invalid")
        page.goto(f"{base}/preferences/no-such-token-0123456789")
        camera.look("not-found")
        page.goto(f"{base}/archive")
        camera.look("archive")
        page.goto(f"{base}/archive/1")
        camera.look("archive-edition", chrome=False)  # the mail's own look (its web copy)
        page.goto(f"{base}/archive/99")
        camera.look("archive-missing")
        # The staff log-in the home page links to (the admin's pages: test_admin_browser.py).
        page.goto(f"{base}/admin/login")
        camera.look("admin-login")
        page.goto(f"{base}/unsubscribe/{token}")
        camera.look("unsubscribe")
        page.click("button[type=submit]")
        camera.look("unsubscribed")
        for name, path in {
            "home": "/",
            "subscribe": "/subscribe",
            "archive": "/archive",
            "data-request": "/my-data",
            "preferences": f"/preferences/{token}",
        }.items():
            page.goto(f"{base}{path}?lang=en")
            camera.look(f"{name}-en", korean=name == "archive")  # edition subjects stay Korean
        # The mails of the journey, as a phone's mail app shows them.
        for number, mail in enumerate(smtp_server.messages, start=1):
            page.set_content(mail.message.get_body(("html",)).get_content())
            camera.look(f"mail-{number}", chrome=False)
        # The development outbox holding those mails (its own app: a relay turns it off).
        outbox_ctx = build_context(make_settings(database_url=database_url))
        try:
            box = mailbox.Maildir(outbox_ctx.settings.outbox_dir, create=True)
            keys = [box.add(mail.data) for mail in smtp_server.messages]
            with serve_app(outbox_ctx, worker=False) as outbox_base:
                page.goto(f"{outbox_base}/outbox")
                camera.look("outbox", chrome=False)
                page.goto(f"{outbox_base}/outbox/{keys[0]}")
                camera.look("outbox-message", chrome=False)
        finally:
            outbox_ctx.close()
    finally:
        context.close()
    assert not camera.problems, "\n".join([*camera.problems, f"(screenshots in {shots})"])
    assert len(camera.taken) >= 2 * 25 and all(
        (shots / name).stat().st_size for name in camera.taken
    )


def test_the_checks_see_a_box_for_a_missing_glyph_a_wide_page_and_a_split_word(browser):
    page = browser.new_page(viewport={"width": 375, "height": 600})
    try:
        # U+F0000 (private use): no installed font has it, so Chromium draws a box.
        page.set_content("<p>구독 \U000f0000</p>")
        missing, hangul = missing_glyphs(page)
        assert [glyph.char for glyph in missing] == ["\U000f0000"] and hangul == 2
        assert sideways_scroll(page) == 0 and split_words(page) == []
        page.set_content('<div style="width: 600px">넓은 표</div>')
        assert sideways_scroll(page) > 0
        page.set_content('<p style="width: 3em; word-break: break-all">받았습니다 구독</p>')
        assert split_words(page) == ["받았습니다"]
    finally:
        page.close()

"""The web archive and seminar calendar over real HTTP, and the digest's HTML part in real Chromium.

Screenshots go to tmp_path; set MAILER_TEST_SCREENSHOTS=DIR to keep them for a look.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import icalendar
import pytest
import uvicorn
from playwright.sync_api import sync_playwright
from sqlalchemy import update

from mailer.bootstrap import build_context
from mailer.context import AppContext
from mailer.digest import create_edition, neutral_values
from mailer.digest.web_copy import without_personal_links
from mailer.models import EditionState, PersonalField
from mailer.render import fill_personal_fields
from mailer.store import db
from mailer.store.db import write_transaction
from mailer.store.tables import editions
from mailer.web.app import create_app
from tests.digest_data import (
    MONDAY,
    add_story,
    mark_sent,
    skipped_week_then_news,
    week_of_news,
)
from tests.helpers import listening_socket
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS


class Site:
    """A running web app on a free loopback port, with its context."""

    def __init__(self, context: AppContext, url: str) -> None:
        self.context = context
        self.url = url

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)


@pytest.fixture
def serve(make_settings) -> Iterator[Callable[..., Site]]:
    """Start the app under uvicorn in a thread on a migrated database; base_url is the server."""
    running: list[tuple[uvicorn.Server, threading.Thread, AppContext]] = []

    def start(database_url: str, **overrides) -> Site:
        sock = listening_socket()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        context = build_context(make_settings(database_url=database_url, base_url=url, **overrides))
        config = uvicorn.Config(create_app(context), log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "web app did not start"
            time.sleep(0.02)
        running.append((server, thread, context))
        return Site(context, url)

    yield start
    for server, thread, context in running:
        server.should_exit = True
        thread.join(10)
        context.close()


def publish_week(site: Site) -> tuple:
    """Edition 1 sent (a week of news), edition 2 still a draft."""
    ctx = site.context
    with write_transaction(ctx.engine) as conn:
        week_of_news(conn)
    first = create_edition(ctx, schedule="digest", scheduled_for=MONDAY, now=MONDAY)
    later = MONDAY + timedelta(days=7)
    with write_transaction(ctx.engine) as conn:
        mark_sent(conn, first.id)
        add_story(conn, "draft-only", title="다음 주 바이오 소식", now=later)
    second = create_edition(ctx, schedule="digest", scheduled_for=later, now=later)
    return first, second


def test_the_archive_lists_sent_editions_only(serve, database_url):
    site = serve(database_url)
    empty = site.get("/archive")
    assert empty.status_code == 200 and "아직 발송된 호가 없습니다" in empty.text
    first, second = publish_week(site)
    assert second.state is EditionState.DRAFT
    page = site.get("/archive")
    assert page.status_code == 200
    assert 'href="/archive/1"' in page.text and "제1호" in page.text
    assert "2026년 12월 7일 (월)" in page.text
    assert "기사 6건" in page.text
    # The number once, then the first headline — not the subject, which repeats it.
    assert page.text.count("제1호") == 1
    assert first.stories[0]["title"].replace("&", "&amp;") in page.text
    assert first.subject.replace("&", "&amp;") not in page.text
    assert "/archive/2" not in page.text


def test_a_skipped_week_leaves_no_gap_in_the_archive(serve, database_url):
    """Issue 15 item 3: the week without news takes no number; the first sent edition is 제1호."""
    site = serve(database_url)
    ctx = site.context
    _skipped, sent, later = skipped_week_then_news(ctx, MONDAY, title="바이오 클러스터 착공")
    assert sent.number == 1 and "제1호" in sent.subject
    with write_transaction(ctx.engine) as conn:
        mark_sent(conn, sent.id, at=later)
    page = site.get("/archive")
    assert page.status_code == 200
    assert page.text.count("제1호") == 1 and "제2호" not in page.text
    assert page.text.count('href="/archive/') == 1
    assert "2026년 12월 14일 (월)" in page.text and "기사 1건" in page.text
    edition = site.get("/archive/1")
    assert edition.status_code == 200 and "바이오 클러스터 착공" in edition.text


def test_an_edition_page_is_the_mail_with_neutral_values(serve, database_url):
    site = serve(database_url)
    first, second = publish_week(site)
    page = site.get("/archive/1")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    shown = fill_personal_fields(
        without_personal_links(first.html, site.url), neutral_values(site.url), html=True
    )
    assert page.text == shown
    assert "%%MAILER_" not in page.text
    assert "/unsubscribe/" not in page.text and "/preferences/" not in page.text
    # No sentence speaks of a personal link on the web copy; it offers 구독하기 once
    # (issue 15, item 6: the old copy linked 수신거부 / 수신 설정 to the home page).
    for personal in ("수신거부", "수신 설정", ">Unsubscribe<", "preferences</a>"):
        assert personal not in page.text, personal
    assert page.text.count(f'<a href="{site.url}/subscribe" ') == 2  # 구독하기 (Subscribe)
    assert page.text.count("구독하기</a>") == 1
    assert f'href="{site.url}/"' not in page.text
    assert "구독자 (subscriber)" in page.text
    assert f"{site.url}/archive/1" in page.text  # "view in browser" points here
    # Not yet sent (draft), never sent (skipped), or not there: not public.
    for path in ("/archive/2", "/archive/99"):
        missing = site.get(path)
        assert missing.status_code == 404 and "찾을 수 없습니다" in missing.text
    assert site.get("/archive/not-a-number").status_code == 422
    # Numbers no database integer column can hold are simply not there (SQLite's
    # driver overflows above 2**63-1, PostgreSQL's INTEGER above 2**31-1).
    for path in ("/archive/100000000000000000000", "/archive/2147483648", "/archive/-1"):
        missing = site.get(path)
        assert missing.status_code == 404 and "찾을 수 없습니다" in missing.text, path
    # Once delivery has started, readers who got it can already open it.
    with write_transaction(site.context.engine) as conn:
        conn.execute(update(editions).where(editions.c.id == second.id).values(state="sending"))
    assert site.get("/archive/2").status_code == 200


def test_the_seminar_calendar_is_served_as_ics(serve, database_url, tmp_path):
    site = serve(database_url)
    response = site.get("/seminar/2027-1.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert 'filename="seminar-2027-1.ics"' in response.headers["content-disposition"]
    (event,) = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    assert str(event["SUMMARY"]).startswith("시흥시 K-바이오산업 육성전략 세미나 제1회")
    assert event["DTSTART"].params["TZID"] == "Asia/Seoul"
    assert event["UID"] == "seminar-2027-1@example.or.kr"
    assert site.get("/seminar/2099-9.ics").status_code == 404
    broken = tmp_path / "broken-seminar.toml"
    broken.write_text("[series]\n", "utf-8")
    other = serve(database_url, digest={"seminar_file": str(broken)})
    failed = other.get("/seminar/2027-1.ics")
    assert failed.status_code == 503
    assert str(broken) not in failed.text  # the detail is for the log, not the public


def _screenshot_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("MAILER_TEST_SCREENSHOTS") or tmp_path)


def test_the_html_part_fits_phone_and_desktop_in_chromium(serve, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)")
    # The look of a page does not depend on the backend: one SQLite run is enough.
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    site = serve(url)
    first, _ = publish_week(site)
    shots = _screenshot_dir(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    sample = fill_personal_fields(
        first.html,
        {
            PersonalField.UNSUBSCRIBE_URL: f"{site.url}/unsubscribe/token",
            PersonalField.PREFERENCES_URL: f"{site.url}/preferences/token",
            PersonalField.EMAIL: "reader@example.com",
        },
        html=True,
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width in (375, 1024):
                for scheme in ("light", "dark"):
                    page = browser.new_page(
                        viewport={"width": width, "height": 900}, color_scheme=scheme
                    )
                    # The HTML part as a mail client gets it ...
                    page.set_content(sample, wait_until="load")
                    fits = page.evaluate(
                        "document.documentElement.scrollWidth <= window.innerWidth"
                    )
                    assert fits, f"HTML part overflows at {width}px ({scheme})"
                    assert "시흥시 K-바이오산업 육성전략 세미나" in page.inner_text("body")
                    path = shots / f"digest-{width}-{scheme}.png"
                    page.screenshot(path=str(path), full_page=True)
                    assert path.stat().st_size > 10_000
                    # ... and the archive page served over HTTP.
                    page.goto(f"{site.url}/archive/1")
                    assert page.evaluate("document.documentElement.scrollWidth") <= width
                    # The web copy offers 구독하기, no unsubscribe link (issue 15, item 6).
                    assert page.locator("a.unsubscribe").count() == 0
                    subscribe = page.get_by_role("link", name="구독하기")
                    assert subscribe.get_attribute("href") == f"{site.url}/subscribe"
                    page.screenshot(
                        path=str(shots / f"archive-{width}-{scheme}.png"), full_page=True
                    )
                    page.close()
            # The mail's widest block keeps to about 640px on a desktop.
            page = browser.new_page(viewport={"width": 1024, "height": 900})
            page.set_content(sample)
            width = page.evaluate(
                "document.querySelector('.container').getBoundingClientRect().width"
            )
            assert 600 <= width <= 640
            # Dark mode really changes the card colour for clients that honour it.
            dark = browser.new_page(viewport={"width": 375, "height": 900}, color_scheme="dark")
            dark.set_content(sample)
            colour = dark.evaluate(
                "getComputedStyle(document.querySelector('.card')).backgroundColor"
            )
            assert colour == "rgb(23, 32, 28)"
            assert page.evaluate("document.scripts.length") == 0
        finally:
            browser.close()

"""Browser-test fixtures: Debian's Chromium driven by Playwright, and a served app to visit.

Playwright never downloads a browser of its own here; it drives Debian's /usr/bin/chromium.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import select

from mailer.bootstrap import build_context
from mailer.seed import initialise
from mailer.store.tables import subscribers
from tests.helpers import listening_socket
from tests.served_app import serve_app, wait_for

__all__ = ["browser", "page", "screenshots", "site"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def site(make_settings, database_url, smtp_server):
    """A served app whose MAILER_BASE_URL is its own address, so links in mail work."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    settings = make_settings(
        database_url=database_url,
        base_url=f"http://127.0.0.1:{port}",
        smtp={"host": smtp_server.host, "port": smtp_server.port},
    )
    ctx = build_context(settings)
    initialise(ctx)
    with serve_app(ctx, sock=sock) as base:
        yield base, ctx
    ctx.close()


@pytest.fixture
def page(browser) -> Page:
    context = browser.new_context(**PHONE, locale="ko-KR")
    page = context.new_page()
    yield page
    context.close()


def subscriber(ctx, address: str) -> dict:
    with ctx.engine.connect() as conn:
        row = (
            conn.execute(select(subscribers).where(subscribers.c.email == address))
            .mappings()
            .first()
        )
    return dict(row) if row else {}


def mail_to(smtp_server, address: str, subject_part: str):
    def find():
        return next(
            (
                m.message
                for m in smtp_server.messages
                if m.rcpt_tos == [address] and subject_part in m.message["Subject"]
            ),
            None,
        )

    return wait_for(find)


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where browser tests keep their screenshots: ``$MAILER_TEST_SCREENSHOTS`` when set
    (to look at them after the run), else this test's pytest tmp dir."""
    kept = os.environ.get("MAILER_TEST_SCREENSHOTS")
    path = Path(kept) if kept else tmp_path / "shots"
    path.mkdir(parents=True, exist_ok=True)
    return path

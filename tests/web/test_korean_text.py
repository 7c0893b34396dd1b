"""Korean that reads naturally (issue 15 item 7): whole words on every line, particles that fit the name, 님 after a name.

Mails are built by the real notice builder and laid out in Chromium at phone widths;
pages are served by the real app.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from mailer import subscribers as subscriptions
from mailer.bootstrap import build_context
from mailer.models import NoticeKind
from mailer.render.sandbox import SandboxRenderer
from mailer.seed import initialise
from mailer.store.notices import ClaimedNotice
from mailer.subscribers.notices import build_notice
from mailer.web.deps import page_templates
from mailer.web.i18n import catalogues
from tests.served_app import client, serve_app
from tests.support.browser import subscriber
from tests.support.page_checks import split_words
from tests.web.serve_support import confirmation_path
from tests.web.test_public import hidden, signup_form

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

NOW = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


def every_notice_html(ctx) -> dict[str, str]:
    """The HTML part of each kind of notice mail, as the worker would build it."""
    subscriptions.add_subscriber(ctx, "pending@example.kr", name="홍길동", notify=False)
    subscriptions.add_subscriber(
        ctx, "reader@example.kr", name="김독자", confirmed=True, notify=False
    )
    pending = subscriber(ctx, "pending@example.kr")["id"]
    active = subscriber(ctx, "reader@example.kr")["id"]
    parts = {}
    for number, kind in enumerate(NoticeKind, start=1):
        gone = kind in (NoticeKind.WITHDRAWAL, NoticeKind.ERASURE)
        notice = ClaimedNotice(
            id=number,
            kind=kind.value,
            subscriber_id=None if gone else pending if kind is NoticeKind.CONFIRM else active,
            to_address="reader@example.kr",
            context={"action_at": NOW.isoformat()},
            state="queued",
            attempts=0,
            created_at=NOW,
        )
        message = build_notice(ctx, notice, now=NOW)
        parts[kind.value] = message.get_body(("html",)).get_content()
    return parts


@sqlite_only
def test_every_mail_breaks_korean_lines_between_words_only(context, browser):
    parts = every_notice_html(context)
    assert len(parts) == len(NoticeKind)
    page = browser.new_page()
    try:
        for kind, html in parts.items():
            page.set_content(html)
            for width in (320, 375):
                page.set_viewport_size({"width": width, "height": 700})
                assert split_words(page) == [], f"the {kind} mail at {width}px"
            breaking = page.evaluate("getComputedStyle(document.querySelector('p')).wordBreak")
            assert breaking == "keep-all", kind
    finally:
        page.close()


def test_long_links_in_a_mail_still_wrap_inside_a_phone_screen(browser):
    # keep-all must not make a long URL push the mail wider than the screen.
    url = "https://news.example.or.kr/confirm/" + "x" * 120
    page = browser.new_page(viewport={"width": 320, "height": 600})
    try:
        for style in ("", "word-break:keep-all;overflow-wrap:break-word;"):
            page.set_content(f'<div style="{style}"><p>주소: {url}</p></div>')
            wide = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            assert wide == (style == ""), style
    finally:
        page.close()


def test_the_home_page_puts_the_particle_the_senders_name_takes(make_settings, database_url):
    for sender, expected in (
        ("(재)시흥산업진흥원", "(재)시흥산업진흥원이 매주"),
        ("시흥시 바이오 센터", "시흥시 바이오 센터가 매주"),
        ("KT", "KT가 매주"),
    ):
        settings = make_settings(database_url=database_url, compliance={"sender_name": sender})
        context = build_context(settings)
        try:
            with serve_app(context, worker=False) as base:
                page = httpx.get(base + "/", timeout=10)
        finally:
            context.close()
        assert page.status_code == 200
        assert expected in page.text and "(가)" not in page.text, sender


def test_page_words_take_the_particle_of_the_configured_list_name(make_settings):
    for list_name, expected in (
        ("시흥 바이오산업 주간 뉴스", "시흥 바이오산업 주간 뉴스를 더 이상"),
        ("바이오산업 주간 소식", "바이오산업 주간 소식을 더 이상"),
    ):
        words = catalogues(make_settings(compliance={"list_name": list_name}))
        assert expected in words["ko"]["unsubscribe_body"]


def test_the_josa_filter_works_in_page_templates_and_in_the_mail_sandbox(make_settings):
    pages = page_templates(make_settings()).env
    assert pages.from_string("{{ s | josa('이') }} {{ t | josa('를') }}").render(
        s="KT", t="<뉴스>"
    ) == ("KT가 &lt;뉴스&gt;를")
    sandbox = SandboxRenderer(
        None, overrides={"p.html.j2": "{{ s | josa('으로') }}·{{ t | josa('와') }}"}
    )
    assert sandbox.render("p.html.j2", {"s": "서울", "t": "시흥산업진흥원"}) == (
        "서울로·시흥산업진흥원과"
    )


@sqlite_only
def test_the_welcome_page_says_nim_after_the_name(context, smtp_server):
    initialise(context)
    with serve_app(context) as base, client(base) as http:
        signup_form(http, email="new.reader@example.kr", name="새독자")
        path = confirmation_path(smtp_server, "new.reader@example.kr")
        page = http.get(path)
        done = http.post(path, data={"csrf_token": hidden(page.text, "csrf_token"), "lang": "ko"})
        if done.is_redirect:  # POST-redirect-GET
            done = http.get(done.headers["location"])
    assert done.status_code == 200
    assert "새독자님, 구독을 환영합니다" in done.text

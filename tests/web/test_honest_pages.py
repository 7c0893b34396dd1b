"""Pages that never claim what did not happen, forms that keep what was typed, retention told once.

Issue 15, items 5, 8 and 9, over a real uvicorn server whose MAILER_BASE_URL is itself
and a real aiosmtpd relay; the form behaviour in Debian's Chromium (Playwright). The
retention setting is 3 days here, not the default 5, so a text that hard-codes a number
(or says "without delay") is caught. The changed pages are photographed at 375 px and
1024 px (kept under MAILER_TEST_SCREENSHOTS).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from mailer import subscribers as subscriptions
from mailer.bootstrap import build_context
from mailer.seed import initialise
from mailer.store.tables import consent_events, notices
from tests.helpers import link_token, listening_socket
from tests.served_app import serve_app, wait_for
from tests.support.browser import mail_to, subscriber
from tests.web.test_public import hidden, one_click

RETENTION_DAYS = 3
DAMAGED = "hjO0574SHWPCpTJ4SBLeyjmZA7K_ALi"  # the right shape, one character short: nobody
UNVERIFIED = "링크를 확인할 수 없습니다"
UNSUBSCRIBED = "수신거부되었습니다"
WIDTHS = (375, 1024)


@pytest.fixture
def site(make_settings, database_url, smtp_server):
    sock = listening_socket()
    settings = make_settings(
        database_url=database_url,
        base_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
        smtp={"host": smtp_server.host, "port": smtp_server.port},
        subscriptions={"unsubscribed_retention_days": RETENTION_DAYS},
    )
    ctx = build_context(settings)
    initialise(ctx)
    with serve_app(ctx, sock=sock) as base:
        yield base, ctx
    ctx.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    kept = os.environ.get("MAILER_TEST_SCREENSHOTS")
    path = Path(kept) if kept else tmp_path / "shots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def reader(ctx, address: str = "reader@example.kr") -> str:
    subscriptions.add_subscriber(ctx, address, name="김독자", confirmed=True, notify=False)
    return link_token(subscriber(ctx, address))


def ask_by_address(http: httpx.Client, address: str) -> httpx.Response:
    form = http.get("/unsubscribe")
    assert form.status_code == 200
    return http.post(
        "/unsubscribe",
        data={"csrf_token": hidden(form.text, "csrf_token"), "lang": "ko", "email": address},
    )


def unsubscribe_link_mail(smtp_server, address: str) -> str:
    mail = mail_to(smtp_server, address, "수신거부 링크")
    text = mail.get_body(("plain",)).get_content()
    return re.search(r"https?://\S+/unsubscribe/[A-Za-z0-9_-]+", text).group(0)


# --- item 5: unsubscribe never claims what did not happen --------------------------------


def test_a_damaged_link_says_so_and_changes_nothing(site):
    base, ctx = site
    token = reader(ctx)
    with httpx.Client(base_url=base, timeout=10) as http:
        for damaged in (token[:-1], DAMAGED, "x" * 500):
            page = http.get(f"/unsubscribe/{damaged}")
            assert page.status_code == 404 and UNVERIFIED in page.text
            assert 'name="List-Unsubscribe"' not in page.text  # no button that would lie
            assert 'action="/unsubscribe"' in page.text and 'name="email"' in page.text
            # The page's own button and a mail client's RFC 8058 POST alike.
            for answer in (
                one_click(http, f"/unsubscribe/{damaged}"),
                http.post(
                    f"/unsubscribe/{damaged}",
                    data={"List-Unsubscribe": "One-Click", "via": "page", "lang": "ko"},
                ),
            ):
                assert answer.status_code == 404 and "location" not in answer.headers
                assert UNSUBSCRIBED not in answer.text and UNVERIFIED in answer.text
        assert subscriber(ctx, "reader@example.kr")["status"] == "active"
        # The real token still works, and says so.
        done = one_click(http, f"/unsubscribe/{token}")
        assert done.status_code == 200 and UNSUBSCRIBED in done.text
        assert subscriber(ctx, "reader@example.kr")["status"] == "unsubscribed"


def test_unsubscribe_by_address_mails_the_link_and_answers_the_same_for_anyone(site, smtp_server):
    base, ctx = site
    reader(ctx)
    with httpx.Client(base_url=base, timeout=10) as http:
        known = ask_by_address(http, "Reader@Example.kr")
        unknown = ask_by_address(http, "stranger@example.kr")
        # POST-redirect-GET, to the same place, whoever asked.
        assert known.status_code == unknown.status_code == 303
        assert known.headers["location"] == unknown.headers["location"]
        landed = http.get(known.headers["location"])
        assert landed.status_code == 200 and "메일함을 확인해 주세요" in landed.text
        assert subscriber(ctx, "reader@example.kr")["status"] == "active"  # asking changes nothing

        url = unsubscribe_link_mail(smtp_server, "reader@example.kr")
        with ctx.engine.connect() as conn:
            kinds = conn.execute(select(notices.c.kind)).scalars().all()
        assert kinds.count("unsubscribe_link") == 1  # none for the stranger
        assert all(m.rcpt_tos != ["stranger@example.kr"] for m in smtp_server.messages)

        path = httpx.URL(url).path
        page = http.get(path)
        assert page.status_code == 200 and 'name="List-Unsubscribe"' in page.text
        left = http.post(path, data={"List-Unsubscribe": "One-Click", "via": "page"})
        assert left.status_code == 200 and UNSUBSCRIBED in left.text
        assert subscriber(ctx, "reader@example.kr")["status"] == "unsubscribed"


def test_unsubscribe_by_address_is_throttled_per_ip(site, smtp_server):
    base, ctx = site
    quota = ctx.settings.subscriptions.per_ip_per_hour
    with httpx.Client(base_url=base, timeout=10) as http:
        form = http.get("/unsubscribe")
        csrf = hidden(form.text, "csrf_token")
        answers = [
            http.post("/unsubscribe", data={"csrf_token": csrf, "email": f"a{n}@example.kr"})
            for n in range(quota + 1)
        ]
    assert {a.status_code for a in answers[:quota]} == {303}
    assert answers[-1].status_code == 429 and "retry-after" in answers[-1].headers


def test_a_bad_address_keeps_what_was_typed_and_a_forged_post_is_refused(site):
    base, ctx = site
    with httpx.Client(base_url=base, timeout=10) as http:
        form = http.get("/unsubscribe")
        bad = http.post(
            "/unsubscribe",
            data={"csrf_token": hidden(form.text, "csrf_token"), "email": "not an address"},
        )
        assert bad.status_code == 400 and 'value="not an address"' in bad.text
        assert re.search(r'id="email"[^>]*aria-describedby="email-hint email-error"', bad.text)
        assert 'aria-invalid="true"' in bad.text and 'id="email-error"' in bad.text
        forged = http.post("/unsubscribe", data={"csrf_token": "x", "email": "a@example.kr"})
        assert forged.status_code == 400
    with ctx.engine.connect() as conn:
        assert conn.execute(select(notices)).first() is None


# --- item 9: retention told once ---------------------------------------------------------


def test_every_text_quotes_the_one_retention_setting(site, smtp_server):
    base, ctx = site
    told = f"{RETENTION_DAYS}일 안에 파기"
    with httpx.Client(base_url=base, timeout=10) as http:
        consent = http.get("/subscribe").text
        assert told in consent and "지체 없이" not in consent
        english = http.get("/subscribe?lang=en").text
        assert f"within {RETENTION_DAYS} days" in english and "without delay" not in english
        token = reader(ctx)
        left = one_click(http, f"/unsubscribe/{token}")
        assert told in left.text
    mail = mail_to(smtp_server, "reader@example.kr", "수신거부 처리 결과")
    assert told in mail.get_body(("plain",)).get_content()
    assert told in mail.get_body(("html",)).get_content()
    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    assert "unsubscribed_retention_days" in readme


# --- item 8: forms keep what was typed (Chromium) ----------------------------------------


def test_signup_keeps_the_tick_marks_each_failed_field_and_does_not_resubmit(site, page):
    base, ctx = site
    page.goto(f"{base}/subscribe")
    page.get_by_label("이메일 주소 (필수)").fill("not an address")
    page.get_by_label("이름 (선택)").fill("김독자")
    page.get_by_label("위 내용을 읽었으며").check()
    page.get_by_role("button", name="구독 신청").click()
    # Everything typed is back, the tick included; only the address is marked.
    assert page.get_by_label("이름 (선택)").input_value() == "김독자"
    assert page.get_by_label("이메일 주소 (필수)").input_value() == "not an address"
    assert page.get_by_label("위 내용을 읽었으며").is_checked()
    email = page.locator("#email")
    assert email.get_attribute("aria-invalid") == "true"
    assert "email-error" in email.get_attribute("aria-describedby").split()
    assert page.locator("#email-error").is_visible()
    assert page.locator("#consent").get_attribute("aria-invalid") is None

    # Untick and send again: now the box is the second failed field, tied to its message.
    page.get_by_label("위 내용을 읽었으며").uncheck()
    page.get_by_role("button", name="구독 신청").click()
    box = page.locator("#consent")
    assert not box.is_checked() and box.get_attribute("aria-invalid") == "true"
    assert "consent-error" in box.get_attribute("aria-describedby").split()
    assert page.locator("#consent-error").is_visible()
    assert email.get_attribute("aria-invalid") == "true"

    # Success lands on a GET: a reload sends nothing again.
    page.get_by_label("이메일 주소 (필수)").fill("tick.kept@example.kr")
    page.get_by_label("위 내용을 읽었으며").check()
    page.get_by_role("button", name="구독 신청").click()
    assert page.locator("h1").inner_text() == "메일함을 확인해 주세요"
    assert re.search(r"/subscribe\?done=sent", page.url)

    def consents() -> int:
        with ctx.engine.connect() as conn:
            rows = conn.execute(select(consent_events.c.kind)).scalars().all()
        return rows.count("consent")

    assert wait_for(lambda: consents() == 1)
    page.reload()
    assert page.locator("h1").inner_text() == "메일함을 확인해 주세요"
    assert consents() == 1


@pytest.mark.parametrize("path", ["/my-data", "/unsubscribe"])
def test_address_forms_keep_the_address_and_redirect_after_success(site, page, path):
    base, ctx = site
    page.goto(f"{base}{path}")
    page.get_by_label("이메일 주소 (필수)").fill("not an address")
    page.locator("form button[type=submit]").click()
    email = page.locator("#email")
    assert email.input_value() == "not an address"
    assert email.get_attribute("aria-invalid") == "true"
    assert "email-error" in email.get_attribute("aria-describedby").split()
    assert page.locator("#email-error").is_visible()
    email.fill("someone@example.kr")
    page.locator("form button[type=submit]").click()
    assert page.locator("h1").inner_text() == "메일함을 확인해 주세요"
    assert page.url.endswith(f"{path}?done=sent&lang=ko")


def test_preferences_unsubscribe_lands_on_a_get(site, page):
    base, ctx = site
    token = reader(ctx)
    page.goto(f"{base}/preferences/{token}")
    page.locator("#unsub-h + p + form button").click()
    assert re.search(r"done=unsubscribed_done", page.url)
    assert UNSUBSCRIBED in page.locator("[role=status]").inner_text()
    assert subscriber(ctx, "reader@example.kr")["status"] == "unsubscribed"


# --- the changed pages at phone and desktop width -----------------------------------------


def test_changed_pages_fit_phone_and_desktop(site, browser, shots):
    base, ctx = site
    token = reader(ctx)
    pages = {
        "unverified": f"/unsubscribe/{DAMAGED}",
        "by-address": "/unsubscribe",
        "by-address-sent": "/unsubscribe?done=sent",
        "unsubscribe": f"/unsubscribe/{token}",
        "subscribe": "/subscribe",
    }
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900}, locale="ko-KR")
        tab = context.new_page()
        for name, path in pages.items():
            tab.goto(base + path)
            assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
            tab.screenshot(path=str(shots / f"issue15-{name}-{width}.png"), full_page=True)
        context.close()

"""The permanent token opens preferences and unsubscribe only; data and erasure need a mailed short-lived link.

Issue 11, item 8, over a real uvicorn server whose MAILER_BASE_URL is itself and a real
aiosmtpd relay: the link in the mail is followed as a reader would. The changed pages are
photographed in Chromium at 375 px and 1024 px (kept under MAILER_TEST_SCREENSHOTS).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from mailer import subscribers as subscriptions
from mailer.store.tables import link_tokens, notices, subscribers
from tests.helpers import link_token
from tests.served_app import wait_for
from tests.support.browser import subscriber
from tests.web.test_public import hidden, one_click

WIDTHS = (375, 1024)


def reader(ctx, address: str = "reader@example.kr") -> str:
    subscriptions.add_subscriber(ctx, address, name="김독자", confirmed=True, notify=False)
    return link_token(subscriber(ctx, address))


def data_link_mail(smtp_server, address: str) -> str:
    """The data-access URL mailed to ``address`` (waits for the worker to send it)."""

    def find():
        for mail in smtp_server.messages:
            if mail.rcpt_tos == [address]:
                text = mail.message.get_body(("plain",)).get_content()
                if match := re.search(r"https?://\S+/my-data/[A-Za-z0-9_-]+", text):
                    return match.group(0)
        return None

    return wait_for(find, timeout=20, what=f"data-access mail to {address}")


def request_link(http: httpx.Client, address: str) -> httpx.Response:
    form = http.get("/my-data")
    assert form.status_code == 200
    answer = http.post(
        "/my-data",
        data={"csrf_token": hidden(form.text, "csrf_token"), "lang": "ko", "email": address},
        follow_redirects=True,
    )
    # POST-redirect-GET (issue 15, item 8): a reload of the answer sends nothing again.
    assert [step.status_code for step in answer.history] in ([], [303])
    return answer


def test_the_permanent_token_opens_no_data_and_no_erasure(site):
    base, ctx = site
    token = reader(ctx)
    with httpx.Client(base_url=base, timeout=10) as http:
        page = http.get(f"/preferences/{token}")
        assert page.status_code == 200 and "reader@example.kr" in page.text
        assert "data.json" not in page.text and "/erase" not in page.text
        assert 'href="/my-data?lang=ko"' in page.text
        download = http.get(f"/preferences/{token}/data.json")
        assert download.status_code >= 400 and "reader@example.kr" not in download.text
        csrf = hidden(page.text, "csrf_token")
        erase = http.post(
            f"/preferences/{token}/erase", data={"csrf_token": csrf, "confirm": "yes"}
        )
        assert erase.status_code == 404
        for path in (f"/my-data/{token}", f"/my-data/{token}/data.json"):
            assert http.get(path).status_code == 404
        assert subscriber(ctx, "reader@example.kr")["status"] == "active"


def test_a_mailed_link_opens_the_data_and_the_erasure(site, smtp_server):
    base, ctx = site
    token = reader(ctx)
    with httpx.Client(base_url=base, timeout=10) as http:
        known = request_link(http, "Reader@Example.kr")
        unknown = request_link(http, "stranger@example.kr")
        # The same answer whether or not the address is on the list.
        assert known.status_code == unknown.status_code == 200
        assert known.text == unknown.text and "메일함을 확인해 주세요" in known.text
        url = data_link_mail(smtp_server, "reader@example.kr")
        with ctx.engine.connect() as conn:
            kinds = conn.execute(select(notices.c.kind)).scalars().all()
        assert kinds.count("data_link") == 1  # none for the stranger
        assert all(m.rcpt_tos != ["stranger@example.kr"] for m in smtp_server.messages)
        path = httpx.URL(url).path
        data_token = path.rsplit("/", 1)[1]
        # Stored as hashes only: neither token appears in the database.
        with ctx.engine.connect() as conn:
            stored = repr(conn.execute(select(subscribers)).all())
            stored += repr(conn.execute(select(link_tokens)).all())
        assert token not in stored and data_token not in stored
        # The data link is single purpose: it is no preferences or unsubscribe token.
        assert http.get(f"/preferences/{data_token}").status_code == 404

        page = http.get(path)
        assert page.status_code == 200 and "reader@example.kr" in page.text
        assert "내 정보" in page.text
        download = http.get(f"{path}/data.json")
        assert (
            download.status_code == 200 and "attachment" in download.headers["content-disposition"]
        )
        exported = download.json()
        assert exported["email"] == "reader@example.kr" and exported["name"] == "김독자"
        assert "consent_events" in exported

        csrf = hidden(page.text, "csrf_token")
        unticked = http.post(f"{path}/erase", data={"csrf_token": csrf})
        assert unticked.status_code == 400 and 'id="confirm-error"' in unticked.text
        assert subscriber(ctx, "reader@example.kr")
        erased = http.post(f"{path}/erase", data={"csrf_token": csrf, "confirm": "yes"})
        assert erased.status_code == 200 and "삭제되었습니다" in erased.text
        assert subscriber(ctx, "reader@example.kr") == {}
        gone = http.get(path)
        assert gone.status_code == 404 and "새 링크 받기" in gone.text
        # Unsubscribe links in old mail keep answering (정보통신망법 제50조), honestly: the
        # erased address's token names nobody now, so no success is claimed (issue 15).
        old_mail = one_click(http, f"/unsubscribe/{token}")
        assert old_mail.status_code == 404 and "링크를 확인할 수 없습니다" in old_mail.text


def test_a_second_request_within_the_interval_sends_nothing_more(site, smtp_server):
    base, ctx = site
    reader(ctx)
    with httpx.Client(base_url=base, timeout=10) as http:
        first = request_link(http, "reader@example.kr")
        data_link_mail(smtp_server, "reader@example.kr")
        second = request_link(http, "reader@example.kr")
    assert first.text == second.text
    with ctx.engine.connect() as conn:
        kinds = conn.execute(select(notices.c.kind)).scalars().all()
    assert kinds.count("data_link") == 1


def test_the_request_refuses_a_malformed_address(site):
    base, _ = site
    with httpx.Client(base_url=base, timeout=10) as http:
        answer = request_link(http, "not an address")
    assert answer.status_code == 400 and 'id="email-error"' in answer.text


@pytest.fixture
def shots(tmp_path) -> Path:
    kept = os.environ.get("MAILER_TEST_SCREENSHOTS")
    path = Path(kept) if kept else tmp_path / "shots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_changed_pages_fit_phone_and_desktop(site, smtp_server, browser, shots):
    base, ctx = site
    token = reader(ctx)
    with httpx.Client(base_url=base, timeout=10) as http:
        request_link(http, "reader@example.kr")
    path = httpx.URL(data_link_mail(smtp_server, "reader@example.kr")).path
    pages = {
        "preferences": f"/preferences/{token}",
        "data-request": "/my-data",
        "my-data": path,
        "data-link-invalid": "/my-data/expired-or-forged-token-0123",
    }
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900}, locale="ko-KR")
        page = context.new_page()
        try:
            for name, url in pages.items():
                page.goto(base + url)
                assert page.evaluate("document.documentElement.lang") == "ko"
                # Nothing wider than the screen: no sideways scrolling on a phone.
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{name} at {width}px scrolls sideways by {overflow}px"
                page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
            page.goto(base + "/my-data")
            page.fill("#email", "reader@example.kr")
            page.click("button[type=submit]")
            page.wait_for_selector("#sent-title")
            page.screenshot(path=str(shots / f"data-sent-{width}.png"), full_page=True)
        finally:
            context.close()

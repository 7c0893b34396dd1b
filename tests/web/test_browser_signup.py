"""A new subscriber on a phone-sized Chromium: sign up, confirm from the mail, leave with one click.

Playwright drives Debian's /usr/bin/chromium against a real uvicorn server; mail goes
to the test SMTP server; the one-click POST is sent exactly as Gmail sends it.
"""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from mailer.store.tables import consent_events
from tests.helpers import TEST_KEYS
from tests.support.browser import mail_to, subscriber

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_sign_up_confirm_and_leave_on_a_phone(site, page, smtp_server):
    base, ctx = site
    page.goto(f"{base}/subscribe")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_label("이메일 주소 (필수)").fill("phone.reader@example.kr")
    page.get_by_label("이름 (선택)").fill("모바일 독자")
    page.get_by_label("위 내용을 읽었으며").check()
    page.get_by_role("button", name="구독 신청").click()
    assert page.locator("h1").inner_text() == "메일함을 확인해 주세요"

    confirm_mail = mail_to(smtp_server, "phone.reader@example.kr", "구독 확인")
    link = re.search(
        r"http://\S+/confirm/\S+", confirm_mail.get_body(("plain",)).get_content()
    ).group(0)
    page.goto(link)
    assert subscriber(ctx, "phone.reader@example.kr")["status"] == "pending"
    page.get_by_role("button", name="구독 확인").click()
    assert "구독을 환영합니다" in page.locator("h1").inner_text()
    assert subscriber(ctx, "phone.reader@example.kr")["status"] == "active"

    # The mail client's unsubscribe button: RFC 8058 POST to the List-Unsubscribe URL.
    welcome = mail_to(smtp_server, "phone.reader@example.kr", "수신 동의 처리 결과")
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(.+)>", str(welcome["List-Unsubscribe"]).strip()).group(1)
    answer = httpx.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert answer.status_code == 200
    assert subscriber(ctx, "phone.reader@example.kr")["status"] == "unsubscribed"
    mail_to(smtp_server, "phone.reader@example.kr", "수신거부 처리 결과")

    with ctx.engine.connect() as conn:
        kinds = [
            (e.kind, (e.detail or {}).get("notice"))
            for e in conn.execute(
                select(consent_events)
                .where(
                    consent_events.c.email_hash == TEST_KEYS.address_key("phone.reader@example.kr")
                )
                .order_by(consent_events.c.id)
            )
        ]
    assert kinds[:5] == [
        ("consent", None),
        ("notice", "confirm"),
        ("confirmation", None),
        ("notice", "welcome"),
        ("withdrawal", None),
    ]


@sqlite_only
def test_field_errors_appear_next_to_their_fields(site, page):
    base, ctx = site
    page.goto(f"{base}/subscribe")
    page.get_by_label("이메일 주소 (필수)").fill("not an address")
    page.get_by_role("button", name="구독 신청").click()
    email = page.locator("#email")
    error = page.locator("#email-error")
    assert error.inner_text() == "올바른 이메일 주소가 아닙니다. 예: name@example.kr"
    assert email.get_attribute("aria-invalid") == "true"
    assert "email-error" in email.get_attribute("aria-describedby")
    # Right below its field, and the field keeps what was typed and has the focus.
    field_box, error_box = email.bounding_box(), error.bounding_box()
    assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 60
    assert email.input_value() == "not an address"
    assert page.evaluate("document.activeElement.id") == "email"
    assert page.locator("#consent-error").is_visible()
    assert subscriber(ctx, "not an address") == {}


@sqlite_only
def test_signup_with_the_keyboard_alone(site, page, smtp_server):
    base, _ = site
    page.goto(f"{base}/subscribe?lang=en")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    visited = []
    for _ in range(10):
        page.keyboard.press("Tab")
        visited.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
        if visited[-1] == "email":
            break
    assert visited[-1] == "email", visited
    outline = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
    )
    assert outline[0] != "none" and outline[1] >= 2  # visible focus
    page.keyboard.type("keys@example.kr")
    for expected, text in (("name", "Kim"), ("organisation", "Lab")):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == expected
        page.keyboard.type(text)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "consent"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "BUTTON"  # the honeypot is skipped
    page.keyboard.press("Enter")
    page.wait_for_selector("#sent-title")
    assert page.locator("h1").inner_text() == "Check your inbox"
    mail_to(smtp_server, "keys@example.kr", "Please confirm")

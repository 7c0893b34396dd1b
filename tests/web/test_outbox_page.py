"""The development /outbox page reads mail as a person would (issue 15 item 10).

Decoded subject, sender and recipients (RFC 2047, and raw UTF-8 headers of SMTPUTF8
mail), dates in the configured time zone, the HTML part in a sandboxed iframe where no
script runs, and a layout that keeps words whole at 375 px. A real uvicorn server
serves a Maildir filled with the bytes a mail would arrive with; Chromium looks.
"""

from __future__ import annotations

import mailbox
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP

import httpx
import pytest

from mailer.bootstrap import build_context
from tests.served_app import serve_app
from tests.support.page_checks import sideways_scroll, split_words

SUBJECT = (
    "[시흥 바이오산업 주간 뉴스] 구독 확인을 눌러 주세요 / Please confirm your subscription message"
)

#: What a mail with an SMTPUTF8 address looks like on the wire: raw UTF-8 headers (RFC 6532).
UTF8_MAIL = (
    "From: 시흥산업진흥원 <news@example.or.kr>\r\n"
    "To: 홍길동@example.kr\r\n"
    "Subject: 확인 메일 (UTF-8 헤더)\r\n"
    "Date: Mon, 07 Dec 2026 00:30:00 +0000\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n"
    "본문입니다.\r\n"
).encode()


def notice_bytes() -> bytes:
    message = EmailMessage()
    message["Subject"] = SUBJECT
    message["From"] = Address("(재)시흥산업진흥원", addr_spec="news@example.or.kr")
    message["To"] = Address("김독자", addr_spec="reader@example.kr")
    message["Date"] = "Tue, 01 Dec 2026 22:42:35 +0000"
    message.set_content("안녕하세요 김독자님,\n구독 신청을 받았습니다.\n", cte="quoted-printable")
    message.add_alternative(
        "<!doctype html><html><head><title>t</title></head><body>"
        '<p id="said">구독 신청을 받았습니다.</p>'
        "<script>document.getElementById('said').textContent = 'SCRIPT RAN'</script>"
        '<p><a id="out" href="https://example.kr/">링크</a></p></body></html>',
        subtype="html",
        cte="quoted-printable",
    )
    data = message.as_bytes(policy=SMTP)
    assert b"=?utf-8?" in data and b"=EA=B5=AC" in data  # encoded on the wire, as sent
    return data


@pytest.fixture
def outbox(make_settings, tmp_path):
    """Serve the outbox page of an app with the given settings over a Maildir of two mails."""
    running = []

    def start(**settings):
        context = build_context(
            make_settings(database_url=f"sqlite:///{tmp_path / 'outbox.db'}", **settings)
        )
        box = mailbox.Maildir(context.settings.outbox_dir, create=True)
        keys = {"notice": box.add(notice_bytes()), "utf8": box.add(UTF8_MAIL)}
        server = serve_app(context, worker=False)
        running.append((server, context))
        return server.__enter__(), keys

    yield start
    for server, context in running:
        server.__exit__(None, None, None)
        context.close()


def test_the_list_shows_decoded_headers_and_local_dates(outbox):
    base, _ = outbox()
    page = httpx.get(base + "/outbox", timeout=10)
    assert page.status_code == 200
    text = page.text
    assert SUBJECT in text and "=?utf-8?" not in text
    assert "(재)시흥산업진흥원 &lt;news@example.or.kr&gt;" in text
    assert "김독자 &lt;reader@example.kr&gt;" in text
    assert "2026-12-02 07:42 KST" in text and "+0000" not in text  # Asia/Seoul by default
    # Raw UTF-8 headers (SMTPUTF8) read as the text they are.
    assert "확인 메일 (UTF-8 헤더)" in text and "홍길동@example.kr" in text
    assert "2026-12-07 09:30 KST" in text


def test_dates_follow_the_configured_time_zone(outbox):
    base, _ = outbox(timezone="Europe/Berlin")
    assert "2026-12-01 23:42 CET" in httpx.get(base + "/outbox", timeout=10).text


def test_a_message_page_shows_the_parts_decoded_and_the_html_part_sandboxed(outbox):
    base, keys = outbox()
    page = httpx.get(f"{base}/outbox/{keys['notice']}", timeout=10)
    assert page.status_code == 200
    assert "안녕하세요 김독자님," in page.text and "=EC" not in page.text
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    iframe = page.text.split("<iframe", 1)[1].split(">", 1)[0]
    assert f'src="/outbox/{keys["notice"]}/html"' in iframe
    sandbox = iframe.split('sandbox="', 1)[1].split('"', 1)[0].split()
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    part = httpx.get(f"{base}/outbox/{keys['notice']}/html", timeout=10)
    policy = part.headers["content-security-policy"]
    assert "sandbox" in policy and "script-src" not in policy and "default-src 'none'" in policy
    assert "frame-ancestors 'self'" in policy
    assert "구독 신청을 받았습니다." in part.text
    raw = httpx.get(f"{base}/outbox/{keys['notice']}/raw", timeout=10)
    assert "Content-Transfer-Encoding: quoted-printable" in raw.text
    # A text-only mail has no iframe, and its part is shown too.
    plain = httpx.get(f"{base}/outbox/{keys['utf8']}", timeout=10)
    assert "<iframe" not in plain.text and "본문입니다." in plain.text
    assert httpx.get(f"{base}/outbox/{keys['utf8']}/html", timeout=10).status_code == 404
    assert httpx.get(f"{base}/outbox/no-such-key", timeout=10).status_code == 404


def test_in_chromium_no_script_runs_and_words_stay_whole_on_a_phone(outbox, browser):
    base, keys = outbox()
    page = browser.new_page(viewport={"width": 375, "height": 800})
    try:
        for path in ("/outbox", f"/outbox/{keys['notice']}"):
            page.goto(base + path)
            assert sideways_scroll(page) == 0, path
            assert split_words(page) == [], path
        frame = page.frame_locator("iframe.part")
        assert frame.locator("#said").inner_text() == "구독 신청을 받았습니다."
        assert frame.locator("#out").get_attribute("href") == "https://example.kr/"
    finally:
        page.close()

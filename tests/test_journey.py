"""The whole reader journey, as issue 7's "done when" tries it on a phone-sized browser.

Sign up in Chromium, confirm from the mail, receive the next digest, leave with the
mail client's one-click unsubscribe (the RFC 8058 POST from the digest's own
List-Unsubscribe header), and find no further digest — every step in the ledger.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from mailer.delivery import queue_edition, run_worker
from mailer.digest import create_edition
from mailer.models import EditionState
from mailer.store.db import write_transaction
from mailer.store.tables import consent_events
from tests.digest_data import add_story, week_of_news
from tests.helpers import TEST_KEYS
from tests.served_app import wait_for
from tests.support.browser import mail_to, subscriber

READER = "journey.reader@example.kr"


def digests_to(smtp_server, address: str) -> list:
    return [
        m.message
        for m in smtp_server.messages
        if m.rcpt_tos == [address] and m.message["Message-ID"].startswith("<e")
    ]


def send_next_digest(ctx, *, scheduled_for: datetime, news) -> None:
    with write_transaction(ctx.engine) as conn:
        news(conn, now=scheduled_for - timedelta(hours=1))
    edition = create_edition(ctx, schedule="digest", scheduled_for=scheduled_for)
    assert edition.state == EditionState.DRAFT
    queue_edition(ctx, edition.id)
    # Playwright's sync API keeps an event loop on this thread; the worker gets its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(run_worker(ctx, until_idle=True))).result()


def test_sign_up_read_a_digest_leave_with_one_click_and_get_no_more(site, page, smtp_server):
    base, ctx = site
    page.goto(f"{base}/subscribe")
    page.get_by_label("이메일 주소 (필수)").fill(READER)
    page.get_by_label("위 내용을 읽었으며").check()
    page.get_by_role("button", name="구독 신청").click()
    confirm_mail = mail_to(smtp_server, READER, "구독 확인")
    page.goto(
        re.search(r"http://\S+/confirm/\S+", confirm_mail.get_body(("plain",)).get_content()).group(
            0
        )
    )
    page.get_by_role("button", name="구독 확인").click()
    assert subscriber(ctx, READER)["status"] == "active"
    mail_to(smtp_server, READER, "수신 동의 처리 결과")  # the result notice (정보통신망법 제50조⑦)

    monday = datetime.now(UTC).replace(second=0, microsecond=0)
    send_next_digest(ctx, scheduled_for=monday, news=week_of_news)
    [digest] = digests_to(smtp_server, READER)
    assert "시흥시 K-바이오산업 육성전략 세미나" in digest.get_body(("html",)).get_content()

    # The mail client's unsubscribe button, exactly as Gmail sends it.
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.match(r"<([^>]+)>", str(digest["List-Unsubscribe"])).group(1)
    answer = httpx.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert answer.status_code == 200
    assert subscriber(ctx, READER)["status"] == "unsubscribed"

    def one_more_story(conn, *, now):
        add_story(conn, "next-week", title="신약 임상 2상 결과 발표", now=now)

    send_next_digest(ctx, scheduled_for=monday + timedelta(minutes=1), news=one_more_story)
    assert len(digests_to(smtp_server, READER)) == 1, "a digest arrived after unsubscribing"

    def ledger() -> list[str]:
        with ctx.engine.connect() as conn:
            return [
                row.kind
                for row in conn.execute(
                    select(consent_events.c.kind)
                    .where(consent_events.c.email_hash == TEST_KEYS.address_key(READER))
                    .order_by(consent_events.c.id)
                )
            ]

    # Notices (confirmation link, result notices) go out after the answer, so their
    # entries may interleave and the last may still be on its way.
    kinds = wait_for(lambda: (found := ledger()).count("notice") >= 3 and found)
    assert [kind for kind in kinds if kind != "notice"] == ["consent", "confirmation", "withdrawal"]

"""One mail path: notices and digests go through the same worker, SMTP pool, retry policy and crash rules."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from mailer import delivery
from mailer.store import notices as notice_store
from mailer.store.db import write_transaction
from mailer.store.tables import consent_events, notices
from tests.delivery_data import add_edition, add_subscribers, delivery_rows
from tests.helpers import TEST_KEYS

NOTICE_TO = "gone@example.kr"


def queue_notice(ctx, address: str = NOTICE_TO, *, now: datetime | None = None) -> int:
    """An erasure result notice: it needs no subscriber row, so the test needs no signup."""
    with write_transaction(ctx.engine) as conn:
        return notice_store.enqueue(
            conn, "erasure", to_address=address, now=now or datetime.now(UTC)
        )


def notice_row(ctx, notice_id: int) -> dict:
    with ctx.engine.connect() as conn:
        return dict(conn.execute(select(notices).where(notices.c.id == notice_id)).mappings().one())


def subjects_to(server, address: str) -> list[str]:
    return [m.message["Subject"] for m in server.messages if m.rcpt_tos == [address]]


async def test_one_worker_run_sends_a_notice_and_an_edition_over_one_connection(
    make_ctx, smtp_server
):
    ctx = make_ctx(connections=1)
    add_subscribers(ctx.engine, 5)
    edition_id = add_edition(ctx.engine)
    delivery.queue_edition(ctx, edition_id)
    notice_id = queue_notice(ctx)

    summary = await delivery.run_worker(ctx, until_idle=True)

    assert summary.sent == 5 and summary.notices.sent == 1
    # Due notices are claimed first and go out first, on the same pooled connection.
    assert smtp_server.messages[0].rcpt_tos == [NOTICE_TO]
    assert len(smtp_server.messages) == 6 and smtp_server.connections == 1
    assert {row["state"] for row in delivery_rows(ctx.engine, edition_id)} == {"sent"}
    row = notice_row(ctx, notice_id)
    assert row["state"] == "sent" and row["last_code"] == 250 and row["to_address"] is None
    with ctx.engine.connect() as conn:
        [event] = conn.execute(
            select(consent_events).where(
                consent_events.c.email_hash == TEST_KEYS.address_key(NOTICE_TO)
            )
        ).mappings()
    assert event["kind"] == "notice" and event["detail"] == {"notice": "erasure"}


async def test_a_notice_queued_while_an_edition_is_sent_overtakes_it(make_ctx, smtp_server):
    ctx = make_ctx(connections=1, batch_size=50)
    add_subscribers(ctx.engine, 40)
    edition_id = add_edition(ctx.engine)
    delivery.queue_edition(ctx, edition_id)
    queued = []

    def signup_after_the_first_copy(summary) -> None:
        if summary.sent == 1 and not queued:
            queued.append(queue_notice(ctx))
            ctx.mail_bell.ring()  # what the web does after committing a signup

    await delivery.run_worker(ctx, until_idle=True, progress=signup_after_the_first_copy)

    order = [m.rcpt_tos[0] for m in smtp_server.messages]
    assert len(order) == 41 and order.count(NOTICE_TO) == 1
    # 39 digest copies were still claimed behind it; the notice did not wait for them.
    assert order.index(NOTICE_TO) <= 3, order[:5]


async def test_a_notice_deferred_by_a_4xx_is_retried_with_the_shared_backoff(make_ctx, smtp_server):
    ctx = make_ctx(subscriptions={"notice_backoff_base": 60, "notice_backoff_max": 3600})
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    notice_id = queue_notice(ctx, now=start)
    smtp_server.fail("RCPT", 451, "4.7.1 greylisted", when=lambda a: a == NOTICE_TO)

    assert await delivery.deliver_notices(ctx, now=start) == 0
    row = notice_row(ctx, notice_id)
    assert row["state"] == "deferred" and "451" in row["last_error"] and row["attempts"] == 1
    assert row["claimed_by"] is None
    # mailer.retry.backoff_delay for the first failure: base × [½, 1] (equal jitter).
    assert start + timedelta(seconds=30) <= row["next_attempt_at"] <= start + timedelta(seconds=60)

    assert await delivery.deliver_notices(ctx, now=row["next_attempt_at"]) == 1
    row = notice_row(ctx, notice_id)
    assert row["state"] == "sent" and row["attempts"] == 2 and row["last_error"] is None
    assert subjects_to(smtp_server, NOTICE_TO) and len(subjects_to(smtp_server, NOTICE_TO)) == 1


async def test_a_running_worker_retries_a_deferred_notice_by_itself(make_ctx, smtp_server):
    ctx = make_ctx()
    notice_id = queue_notice(ctx)
    smtp_server.fail("RCPT", 451, "try later", times=2, when=lambda a: a == NOTICE_TO)

    summary = await delivery.run_worker(ctx, until_idle=True)

    assert summary.notices.deferred == 2 and summary.notices.sent == 1
    assert notice_row(ctx, notice_id)["attempts"] == 3


async def test_relay_down_the_notice_stays_queued_and_a_later_run_sends_it(make_ctx, smtp_server):
    ctx = make_ctx(subscriptions={"notice_backoff_base": 60, "notice_backoff_max": 3600})
    smtp_server.stop()
    notice_id = queue_notice(ctx)

    summary = await delivery.run_worker(ctx, until_idle=True)

    row = notice_row(ctx, notice_id)
    assert summary.notices.deferred == 1 and summary.notices.sent == 0
    assert row["state"] == "deferred" and row["to_address"] == NOTICE_TO
    assert "cannot connect" in row["last_error"]
    smtp_server.start()
    summary = await delivery.run_worker(ctx, until_idle=True, now=row["next_attempt_at"])
    assert summary.notices.sent == 1
    assert notice_row(ctx, notice_id)["state"] == "sent"
    assert len(subjects_to(smtp_server, NOTICE_TO)) == 1


async def test_a_permanent_refusal_fails_the_notice_and_suppresses_nothing(make_ctx, smtp_server):
    ctx = make_ctx()
    notice_id = queue_notice(ctx)
    smtp_server.fail("RCPT", 550, "5.1.1 no such user", when=lambda a: a == NOTICE_TO)

    assert await delivery.deliver_notices(ctx) == 0

    row = notice_row(ctx, notice_id)
    assert row["state"] == "failed" and row["last_code"] == 550 and row["to_address"] is None
    # A digest's hard bounce suppresses the address; a notice's only fails that notice.
    queue_notice(ctx)
    assert await delivery.deliver_notices(ctx) == 1


async def test_stop_gives_back_a_notice_whose_relay_never_answered(make_ctx, smtp_server):
    ctx = make_ctx(smtp={"timeout": 30})
    notice_id = queue_notice(ctx)
    at_rcpt, release = threading.Event(), threading.Event()

    def hang(recipient: str) -> bool:
        # The relay goes silent at RCPT: the message is not on the wire yet.
        at_rcpt.set()
        release.wait(60)
        return False

    smtp_server.fail("RCPT", 451, when=hang)
    stop = asyncio.Event()
    worker = asyncio.create_task(delivery.run_worker(ctx, stop=stop))
    try:
        assert await asyncio.to_thread(at_rcpt.wait, 30), "the notice never reached RCPT"
        assert notice_row(ctx, notice_id)["state"] == "sending"
        stop.set()
        # The relay's timeout is 30 s; the worker does not wait for a message not yet sent.
        summary = await asyncio.wait_for(worker, timeout=10)
    finally:
        release.set()

    row = notice_row(ctx, notice_id)
    assert summary.notices.sent == summary.notices.deferred == 0
    # Given back as if never started: the next worker sends it as a first attempt.
    assert row["state"] == "queued" and row["claimed_by"] is None and row["attempts"] == 0
    assert smtp_server.messages == []

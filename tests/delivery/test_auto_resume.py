"""An edition paused by a relay outage resumes by itself once the relay answers again (issue 14 item 4)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from sqlalchemy import update

from mailer import delivery as send
from mailer.store.db import write_transaction
from mailer.store.tables import editions
from tests.delivery_data import add_edition, add_subscribers, delivery_rows, edition_row
from tests.schedules.support import wait_for

#: Generous: a loaded two-core box; the deadline only bounds a failure.
DEADLINE = 60


def received(server) -> Counter:
    return Counter(rcpt for message in server.messages for rcpt in message.rcpt_tos)


def state(ctx, edition_id: int) -> str:
    return edition_row(ctx.engine, edition_id)["state"]


async def paused_by_an_outage(
    ctx, smtp_server, *, count: int = 10, number: int = 3, workers: int = 1
):
    """Queue an edition and start ``workers`` workers with the relay down: the edition pauses itself.

    Returns the edition, the stop event and one task gathering the workers' summaries.
    """
    add_subscribers(ctx.engine, count, prefix=f"e{number}reader")
    edition_id = add_edition(ctx.engine, number=number)
    send.queue_edition(ctx, edition_id)
    smtp_server.stop()
    stop = asyncio.Event()
    running = asyncio.gather(*(send.run_worker(ctx, stop=stop) for _ in range(workers)))
    await wait_for(lambda: state(ctx, edition_id) == "paused" or running.done(), timeout=DEADLINE)
    assert state(ctx, edition_id) == "paused"
    assert "paused by relay failures" in edition_row(ctx.engine, edition_id)["reason"]
    return edition_id, stop, running


async def test_a_paused_edition_resumes_by_itself_and_every_copy_arrives_once(
    make_ctx, smtp_server, caplog
):
    caplog.set_level(logging.INFO, logger="mailer.delivery")
    ctx = make_ctx(pause_window=4, pause_error_rate=0.5, batch_size=3, auto_resume_after=0.5)
    # Two workers watch the relay: one of them resumes the edition, once.
    edition_id, stop, worker = await paused_by_an_outage(ctx, smtp_server, workers=2)
    try:
        smtp_server.start()
        await wait_for(lambda: state(ctx, edition_id) == "sent" or worker.done(), timeout=DEADLINE)
    finally:
        stop.set()
        summaries = await worker

    assert state(ctx, edition_id) == "sent"
    assert sorted(summary.resumed for summary in summaries) == [[], [edition_id]]
    assert caplog.text.count("resumed by itself") == 1
    assert received(smtp_server) == Counter({f"e3reader{i}@example.kr": 1 for i in range(10)})
    assert Counter(row["state"] for row in delivery_rows(ctx.engine, edition_id)) == {"sent": 10}
    assert "edition 3 resumed by itself" in caplog.text
    # Counted too: both workers share this context's registry, so the one resume shows once.
    assert ctx.metrics.get().registry.get_sample_value("mailer_editions_resumed_total") == 1


async def test_with_auto_resume_off_the_edition_waits_for_a_person(make_ctx, smtp_server, caplog):
    caplog.set_level(logging.INFO, logger="mailer.delivery")
    ctx = make_ctx(
        pause_window=4, pause_error_rate=0.5, batch_size=3, auto_resume=False, auto_resume_after=0.3
    )
    edition_id, stop, worker = await paused_by_an_outage(ctx, smtp_server)
    try:
        smtp_server.start()
        # The watch saw the relay answer for the whole interval and said so.
        await wait_for(lambda: "delivery.auto_resume is off" in caplog.text, timeout=DEADLINE)
        assert state(ctx, edition_id) == "paused"
        # Only what was already on its way when the edition paused (one per connection)
        # may have gone out since; nothing new was claimed.
        assert len(smtp_server.messages) <= 2

        # The manual command still works, and the running worker finishes the edition.
        assert send.resume_edition(ctx, edition_id) > 0
        await wait_for(lambda: state(ctx, edition_id) == "sent" or worker.done(), timeout=DEADLINE)
    finally:
        stop.set()
        [summary] = await worker
    assert summary.resumed == []
    assert received(smtp_server) == Counter({f"e3reader{i}@example.kr": 1 for i in range(10)})


async def test_a_pause_for_another_reason_never_resumes_by_itself(make_ctx, smtp_server):
    ctx = make_ctx(pause_window=4, pause_error_rate=0.5, batch_size=3, auto_resume_after=0.3)
    # An edition its worker could not turn into mail: paused, with its deliveries queued.
    broken = add_edition(ctx.engine, number=7)
    add_subscribers(ctx.engine, 3, prefix="broken")
    send.queue_edition(ctx, broken)
    with write_transaction(ctx.engine) as conn:
        conn.execute(
            update(editions)
            .where(editions.c.id == broken)
            .values(state="paused", reason="cannot build the mail: part too large")
        )
    # Another edition paused by the relay, in the same database: it resumes by itself,
    # so the watch has looked at both paused editions by the time it is sent.
    edition_id, stop, worker = await paused_by_an_outage(ctx, smtp_server, number=8)
    try:
        smtp_server.start()
        await wait_for(lambda: state(ctx, edition_id) == "sent" or worker.done(), timeout=DEADLINE)
    finally:
        stop.set()
        [summary] = await worker

    assert summary.resumed == [edition_id]
    assert state(ctx, broken) == "paused"
    assert edition_row(ctx.engine, broken)["reason"] == "cannot build the mail: part too large"
    # Every subscriber got the resumed edition once, and nobody the broken one.
    everyone = [f"broken{i}@example.kr" for i in range(3)]
    everyone += [f"e8reader{i}@example.kr" for i in range(10)]
    assert received(smtp_server) == Counter(dict.fromkeys(everyone, 1))
    assert {row["state"] for row in delivery_rows(ctx.engine, broken)} == {"queued"}


async def test_a_relay_refusing_our_sender_keeps_the_edition_paused_until_it_takes_it(
    make_ctx, smtp_server
):
    ctx = make_ctx(pause_window=4, pause_error_rate=0.5, batch_size=3, auto_resume_after=0.3)
    add_subscribers(ctx.engine, 6)
    edition_id = add_edition(ctx.engine, number=5)
    send.queue_edition(ctx, edition_id)
    smtp_server.fail("MAIL", 451, "sender refused", times=None)
    stop = asyncio.Event()
    worker = asyncio.create_task(send.run_worker(ctx, stop=stop))
    try:
        await wait_for(lambda: state(ctx, edition_id) == "paused", timeout=DEADLINE)

        def mails() -> int:
            return sum(1 for c in smtp_server.commands if c.command == "MAIL")

        # The probes say MAIL FROM too, and are refused: many times auto_resume_after.
        seen = mails()
        await wait_for(lambda: mails() >= seen + 12, timeout=DEADLINE)
        assert state(ctx, edition_id) == "paused"
        assert smtp_server.messages == []

        smtp_server.reset_faults()
        await wait_for(lambda: state(ctx, edition_id) == "sent" or worker.done(), timeout=DEADLINE)
    finally:
        stop.set()
        summary = await worker
    assert summary.resumed == [edition_id]
    assert received(smtp_server) == Counter({f"reader{i}@example.kr": 1 for i in range(6)})

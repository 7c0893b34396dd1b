"""The send step in process, against the fault-injecting SMTP relay, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from mailer import delivery as send
from mailer.errors import InvalidInputError, NotFoundError
from mailer.mail import TokenBucket
from mailer.store import deliveries as store
from mailer.store.db import write_transaction
from mailer.store.tables import deliveries, heartbeats, subscribers, suppressions
from tests.delivery_data import (
    add_edition,
    add_subscribers,
    delivery_rows,
    edition_row,
    message_id,
)
from tests.helpers import TEST_KEYS


@pytest.fixture
def ctx(make_ctx):
    return make_ctx()


def received(server) -> Counter:
    return Counter(rcpt for message in server.messages for rcpt in message.rcpt_tos)


def states(ctx, edition_id) -> Counter:
    return Counter(row["state"] for row in delivery_rows(ctx.engine, edition_id))


async def deliver(ctx, **kwargs) -> send.WorkerSummary:
    return await send.run_worker(ctx, until_idle=True, **kwargs)


# -- queueing -----------------------------------------------------------------------------


def test_queue_inserts_one_delivery_per_active_subscriber_once(ctx, monkeypatch):
    monkeypatch.setattr("mailer.delivery.queue.QUEUE_BATCH", 7)  # several keyset batches
    active = add_subscribers(ctx.engine, 20)
    add_subscribers(ctx.engine, 3, status="pending", prefix="pending")
    add_subscribers(ctx.engine, 2, status="unsubscribed", prefix="gone")
    edition_id = add_edition(ctx.engine)

    assert send.queue_edition(ctx, edition_id) == 20
    assert send.queue_edition(ctx, edition_id) == 0
    rows = delivery_rows(ctx.engine, edition_id)
    assert sorted(row["subscriber_id"] for row in rows) == active
    assert {row["state"] for row in rows} == {"queued"}
    edition = edition_row(ctx.engine, edition_id)
    assert edition["state"] == "queued" and edition["queued_at"] is not None


def test_queue_after_an_interrupted_run_fills_in_the_rest(ctx):
    add_subscribers(ctx.engine, 12)
    edition_id = add_edition(ctx.engine)
    with write_transaction(
        ctx.engine
    ) as conn:  # a crash after the first batch left the edition a draft
        store.queue_batch(conn, edition_id, after_id=0, limit=5, now=datetime.now(UTC))
    assert send.queue_edition(ctx, edition_id) == 7
    assert len(delivery_rows(ctx.engine, edition_id)) == 12


def test_queue_unknown_edition_is_not_found(ctx):
    with pytest.raises(NotFoundError):
        send.queue_edition(ctx, 999)


# -- outcomes -----------------------------------------------------------------------------


async def test_every_subscriber_gets_one_personal_copy(ctx, smtp_server):
    ids = add_subscribers(ctx.engine, 12)
    edition_id = add_edition(ctx.engine, number=5)
    send.queue_edition(ctx, edition_id)

    summary = await deliver(ctx)

    assert summary.sent == 12 and summary.completed_editions == [edition_id]
    assert received(smtp_server) == Counter({f"reader{i}@example.kr": 1 for i in range(12)})
    by_rcpt = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
    first = by_rcpt["reader0@example.kr"]
    assert first["To"] == "reader0@example.kr"
    assert first["Message-ID"] == message_id(ctx.engine, edition_id, ids[0])
    assert "독자0님" in first.get_body(("plain",)).get_content()
    assert states(ctx, edition_id) == Counter({"sent": 12})
    rows = delivery_rows(ctx.engine, edition_id)
    assert all(row["sent_at"] and row["attempts"] == 1 and row["last_code"] == 250 for row in rows)
    assert edition_row(ctx.engine, edition_id)["state"] == "sent"


async def test_4xx_is_retried_until_it_succeeds(ctx, smtp_server):
    add_subscribers(ctx.engine, 4)
    edition_id = add_edition(ctx.engine)
    send.queue_edition(ctx, edition_id)
    smtp_server.fail("RCPT", 451, "greylisted", times=2, when=lambda a: a == "reader2@example.kr")

    summary = await deliver(ctx)

    assert summary.deferred == 2 and summary.sent == 4
    assert received(smtp_server)["reader2@example.kr"] == 1
    row = next(
        r for r in delivery_rows(ctx.engine, edition_id) if r["email"] == "reader2@example.kr"
    )
    assert row["state"] == "sent" and row["attempts"] == 3
    assert row["first_attempt_at"] is not None
    assert edition_row(ctx.engine, edition_id)["state"] == "sent"


async def test_4xx_past_the_retry_deadline_fails(make_ctx, smtp_server):
    ctx = make_ctx(retry_for=0.3)
    add_subscribers(ctx.engine, 2)
    edition_id = add_edition(ctx.engine)
    send.queue_edition(ctx, edition_id)
    smtp_server.fail(
        "RCPT", 450, "mailbox busy", times=None, when=lambda a: a == "reader1@example.kr"
    )

    await deliver(ctx)

    row = next(
        r for r in delivery_rows(ctx.engine, edition_id) if r["email"] == "reader1@example.kr"
    )
    assert row["state"] == "failed" and row["last_code"] == 450
    assert "gave up after" in row["last_error"] and row["attempts"] >= 2
    assert edition_row(ctx.engine, edition_id)["state"] == "sent"


async def test_hard_bounce_fails_and_suppresses_the_address(ctx, smtp_server):
    ids = add_subscribers(ctx.engine, 3)
    edition_id = add_edition(ctx.engine)
    send.queue_edition(ctx, edition_id)
    smtp_server.fail("RCPT", 550, "no such user", when=lambda a: a == "reader1@example.kr")
    smtp_server.fail("RCPT", 552, "mailbox full", when=lambda a: a == "reader2@example.kr")

    summary = await deliver(ctx)

    assert summary.failed == 2 and summary.sent == 1
    rows = {row["email"]: row for row in delivery_rows(ctx.engine, edition_id)}
    assert rows["reader1@example.kr"]["state"] == "failed"
    assert rows["reader1@example.kr"]["last_code"] == 550
    assert rows["reader2@example.kr"]["state"] == "failed"
    with ctx.engine.connect() as conn:
        status = dict(conn.execute(select(subscribers.c.id, subscribers.c.status)).all())
        suppressed = set(conn.execute(select(suppressions.c.email_hash)).scalars())
    # 550 (unknown mailbox) suppresses; 552 (mailbox full) is permanent for this mail only.
    assert status[ids[1]] == "bounced" and status[ids[2]] == "active"
    assert suppressed == {TEST_KEYS.address_key("reader1@example.kr")}
    # The next edition leaves the bounced address out.
    next_edition = add_edition(ctx.engine, number=2)
    assert send.queue_edition(ctx, next_edition) == 2


async def test_5xx_after_data_fails_without_suppressing(ctx, smtp_server):
    ids = add_subscribers(ctx.engine, 2)
    edition_id = add_edition(ctx.engine)
    send.queue_edition(ctx, edition_id)
    smtp_server.fail("DATA", 554, "content rejected", when=lambda a: a == "reader0@example.kr")

    await deliver(ctx)

    rows = {row["email"]: row for row in delivery_rows(ctx.engine, edition_id)}
    assert rows["reader0@example.kr"]["state"] == "failed"
    assert rows["reader0@example.kr"]["last_code"] == 554
    with ctx.engine.connect() as conn:
        assert (
            conn.execute(
                select(subscribers.c.status).where(subscribers.c.id == ids[0])
            ).scalar_one()
            == "active"
        )


async def test_suppressed_subscribers_are_skipped_at_send_time(ctx, smtp_server):
    ids = add_subscribers(ctx.engine, 4)
    edition_id = add_edition(ctx.engine)
    send.queue_edition(ctx, edition_id)
    # After queueing, one unsubscribes and one address lands on the suppression list.
    with write_transaction(ctx.engine) as conn:
        conn.execute(
            update(subscribers).where(subscribers.c.id == ids[0]).values(status="unsubscribed")
        )
        conn.execute(
            insert(suppressions).values(
                email_hash=TEST_KEYS.address_key(" Reader3@Example.kr "),
                reason="erased",
                at=datetime.now(UTC),
            )
        )

    summary = await deliver(ctx)

    assert summary.skipped == 2 and summary.sent == 2
    assert set(received(smtp_server)) == {"reader1@example.kr", "reader2@example.kr"}
    rows = {row["email"]: row for row in delivery_rows(ctx.engine, edition_id)}
    assert rows["reader0@example.kr"]["state"] == "skipped"
    assert "unsubscribed" in rows["reader0@example.kr"]["last_error"]
    assert rows["reader3@example.kr"]["state"] == "skipped"
    assert edition_row(ctx.engine, edition_id)["state"] == "sent"


async def test_connection_dropped_before_the_message_is_retried(ctx, smtp_server):
    add_subscribers(ctx.engine, 3)
    edition_id = add_edition(ctx.engine)
    send.queue_edition(ctx, edition_id)
    smtp_server.drop("RCPT", when=lambda a: a == "reader1@example.kr")
    smtp_server.drop("MAIL")

    summary = await deliver(ctx)

    assert summary.deferred == 2 and summary.sent == 3 and summary.unknown == 0
    assert received(smtp_server) == Counter({f"reader{i}@example.kr": 1 for i in range(3)})


@pytest.mark.parametrize("after_accept", [True, False])
async def test_connection_lost_after_data_is_unknown_and_resent_only_on_request(
    ctx, smtp_server, after_accept
):
    """RFC 1047: with the reply to the final dot lost, the relay may or may not have the mail.

    A retry could deliver it twice, and a duplicate costs more than a miss (design §4),
    so the delivery becomes unknown; staff resend unknowns on purpose.
    """
    ids = add_subscribers(ctx.engine, 3)
    edition_id = add_edition(ctx.engine)
    send.queue_edition(ctx, edition_id)
    smtp_server.drop("DATA", after_accept=after_accept, when=lambda a: a == "reader1@example.kr")

    summary = await deliver(ctx)

    assert summary.unknown == 1 and summary.sent == 2
    assert received(smtp_server)["reader1@example.kr"] == (1 if after_accept else 0)
    rows = {row["email"]: row for row in delivery_rows(ctx.engine, edition_id)}
    assert rows["reader1@example.kr"]["state"] == "unknown"
    assert "may have been delivered" in rows["reader1@example.kr"]["last_error"]
    assert edition_row(ctx.engine, edition_id)["state"] == "sent"  # unknown is an end state

    again = await deliver(ctx)  # a worker leaves unknowns alone
    assert again.attempted == 0
    assert received(smtp_server)["reader1@example.kr"] == (1 if after_accept else 0)

    assert send.resend_unknown(ctx, edition_id) == 1
    assert edition_row(ctx.engine, edition_id)["state"] == "sending"
    resent = await deliver(ctx)
    assert resent.sent == 1
    copies = [m.message for m in smtp_server.messages if m.rcpt_tos == ["reader1@example.kr"]]
    assert len(copies) == (2 if after_accept else 1)
    assert {c["Message-ID"] for c in copies} == {message_id(ctx.engine, edition_id, ids[1])}
    assert states(ctx, edition_id) == Counter({"sent": 3})
    assert edition_row(ctx.engine, edition_id)["state"] == "sent"


async def test_relay_down_pauses_the_edition_and_resume_finishes_it(make_ctx, smtp_server):
    ctx = make_ctx(pause_window=4, pause_error_rate=0.5, batch_size=3)
    add_subscribers(ctx.engine, 10)
    edition_id = add_edition(ctx.engine, number=3)
    send.queue_edition(ctx, edition_id)
    smtp_server.stop()

    summary = await deliver(ctx)

    edition = edition_row(ctx.engine, edition_id)
    assert edition["state"] == "paused"
    assert (
        "transport reasons" in edition["reason"] and "mailer digest resume 3" in edition["reason"]
    )
    assert summary.paused and summary.sent == 0
    counts = states(ctx, edition_id)
    assert counts["sent"] == 0 and counts["sending"] == 0
    assert counts["deferred"] >= 4 and counts["deferred"] + counts["queued"] == 10
    with ctx.engine.connect() as conn:
        assert not conn.execute(
            select(deliveries.c.id).where(
                deliveries.c.claimed_by.is_not(None), deliveries.c.state == "queued"
            )
        ).all(), "a paused edition's unsent claims are given back"

    smtp_server.start()
    assert send.resume_edition(ctx, edition_id) == counts["deferred"]
    with pytest.raises(InvalidInputError, match="not paused"):
        send.resume_edition(ctx, edition_id)
    summary = await deliver(ctx)

    assert summary.sent == 10
    assert received(smtp_server) == Counter({f"reader{i}@example.kr": 1 for i in range(10)})
    assert edition_row(ctx.engine, edition_id)["state"] == "sent"


async def test_relay_down_briefly_is_ridden_out_by_retries(make_ctx, smtp_server):
    ctx = make_ctx(batch_size=20)
    add_subscribers(ctx.engine, 6)
    edition_id = add_edition(ctx.engine)
    send.queue_edition(ctx, edition_id)
    smtp_server.stop()

    async def bring_back():
        while not any(r["state"] == "deferred" for r in delivery_rows(ctx.engine, edition_id)):
            await asyncio.sleep(0.02)
        smtp_server.start()

    restarter = asyncio.create_task(bring_back())
    summary = await deliver(ctx)
    await restarter

    assert summary.deferred >= 1 and summary.sent == 6
    assert received(smtp_server) == Counter({f"reader{i}@example.kr": 1 for i in range(6)})


async def test_connection_is_renewed_after_max_messages(make_ctx, smtp_server):
    ctx = make_ctx(connections=1, smtp={"max_messages_per_connection": 3})
    add_subscribers(ctx.engine, 10)
    edition_id = add_edition(ctx.engine)
    send.queue_edition(ctx, edition_id)

    await deliver(ctx)

    assert len(smtp_server.messages) == 10
    assert smtp_server.connections == 4  # 3 + 3 + 3 + 1
    assert [c.command for c in smtp_server.commands].count("QUIT") >= 3


async def test_workers_in_one_process_share_an_edition_without_duplicates(make_ctx, smtp_server):
    contexts = [make_ctx(batch_size=4) for _ in range(3)]
    add_subscribers(contexts[0].engine, 60)
    edition_id = add_edition(contexts[0].engine)
    send.queue_edition(contexts[0], edition_id)

    summaries = await asyncio.gather(*(deliver(c) for c in contexts))

    assert sum(s.sent for s in summaries) == 60
    assert received(smtp_server) == Counter({f"reader{i}@example.kr": 1 for i in range(60)})
    assert states(contexts[0], edition_id) == Counter({"sent": 60})


async def test_stop_finishes_in_flight_and_gives_back_the_rest(make_ctx, smtp_server):
    ctx = make_ctx(batch_size=50)
    add_subscribers(ctx.engine, 40)
    edition_id = add_edition(ctx.engine)
    send.queue_edition(ctx, edition_id)
    stop = asyncio.Event()

    def halt_after_some(summary):
        if summary.sent >= 5:
            stop.set()

    summary = await send.run_worker(ctx, stop=stop, progress=halt_after_some)

    counts = states(ctx, edition_id)
    assert 5 <= summary.sent < 40 and counts["sent"] == summary.sent
    assert counts["queued"] == 40 - summary.sent and counts["sending"] == 0
    assert sum(received(smtp_server).values()) == summary.sent
    with ctx.engine.connect() as conn:
        assert not conn.execute(select(heartbeats)).all()
        claimed = conn.execute(
            select(deliveries.c.id).where(
                deliveries.c.state == "queued", deliveries.c.claimed_by.is_not(None)
            )
        ).all()
    assert claimed == []


# -- recovery -----------------------------------------------------------------------------


def test_recovery_marks_only_a_dead_workers_in_flight_rows_unknown(ctx):
    add_subscribers(ctx.engine, 8)
    edition_id = add_edition(ctx.engine)
    send.queue_edition(ctx, edition_id)
    now = datetime.now(UTC)
    host = send.new_worker_id().split(":")[0]
    dead_here = f"{host}:999999999:dead"  # no such process on this host
    stale_elsewhere = "elsewhere:123:stale"
    alive_elsewhere = "elsewhere:456:alive"
    rows = [row["id"] for row in delivery_rows(ctx.engine, edition_id)]
    with write_transaction(ctx.engine) as conn:
        conn.execute(
            insert(heartbeats),
            [
                {
                    "instance": dead_here,
                    "role": "worker",
                    "host": host,
                    "pid": 999999999,
                    "started_at": now,
                    "seen_at": now,
                },
                {
                    "instance": stale_elsewhere,
                    "role": "worker",
                    "host": "elsewhere",
                    "pid": 123,
                    "started_at": now,
                    "seen_at": now - timedelta(hours=1),
                },
                {
                    "instance": alive_elsewhere,
                    "role": "worker",
                    "host": "elsewhere",
                    "pid": 456,
                    "started_at": now,
                    "seen_at": now,
                },
            ],
        )

        def hold(ids, worker, state):
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(ids))
                .values(claimed_by=worker, state=state)
            )

        hold(rows[0:2], dead_here, "sending")
        hold(rows[2:3], dead_here, "queued")
        hold(rows[3:4], stale_elsewhere, "sending")
        hold(rows[4:6], alive_elsewhere, "sending")
        hold(rows[6:7], "vanished:1:x", "deferred")  # claims without any heartbeat

    recovery = send.recover_in_flight(ctx)

    assert recovery.unknown == 3 and recovery.released == 2
    assert set(recovery.workers) == {dead_here, stale_elsewhere, "vanished:1:x"}
    by_id = {row["id"]: row for row in delivery_rows(ctx.engine, edition_id)}
    assert [by_id[i]["state"] for i in rows] == [
        "unknown",
        "unknown",
        "queued",
        "unknown",
        "sending",
        "sending",
        "deferred",
        "queued",
    ]
    assert by_id[rows[2]]["claimed_by"] is None and by_id[rows[6]]["claimed_by"] is None
    with ctx.engine.connect() as conn:
        left = set(conn.execute(select(heartbeats.c.instance)).scalars())
    assert left == {alive_elsewhere}


def test_status_counts_and_unknown_edition(ctx):
    add_subscribers(ctx.engine, 3)
    edition_id = add_edition(ctx.engine)
    send.queue_edition(ctx, edition_id)
    assert send.delivery_counts(ctx, edition_id).by_state == {"queued": 3}
    assert send.delivery_counts(ctx, edition_id).total == 3
    with pytest.raises(NotFoundError):
        send.delivery_counts(ctx, 4242)
    with pytest.raises(NotFoundError):
        send.resend_unknown(ctx, 4242)


def test_token_bucket_limits_the_rate():
    now = [0.0]
    bucket = TokenBucket(10, clock=lambda: now[0])
    assert bucket.take(25) == 10  # a burst of one second's worth
    assert bucket.take(1) == 0
    assert bucket.wait_time() == pytest.approx(0.1)
    now[0] += 0.35
    assert bucket.take(5) == 3
    unlimited = TokenBucket(0)
    assert unlimited.take(1000) == 1000 and unlimited.wait_time() == 0


async def test_international_addresses_on_a_relay_without_smtputf8(make_ctx, smtp_server):
    """An IDN domain travels as punycode; a Korean local part fails alone, never the edition.

    The test relay does not advertise SMTPUTF8 (RFC 6531), like many real ones.
    """
    smtp_server.stop()
    smtp_server.smtputf8 = False
    smtp_server.start()
    ctx = make_ctx(pause_window=4, pause_error_rate=0.5, batch_size=3)
    add_subscribers(ctx.engine, 3)
    korean = ["독자0@한국.kr", "독자1@한국.kr", "독자2@한국.kr", "독자3@한국.kr"]
    with write_transaction(ctx.engine) as conn:
        conn.execute(
            insert(subscribers),
            [
                {
                    "email": email,
                    "name": "독자",
                    "status": "active",
                    **TEST_KEYS.new_link(),
                    "attributes": {},
                    "source": "test",
                    "created_at": datetime.now(UTC),
                }
                for email in [*korean, "reader@bücher.example"]
            ],
        )
    edition_id = add_edition(ctx.engine, number=4)
    send.queue_edition(ctx, edition_id)

    summary = await deliver(ctx)

    assert not summary.paused
    assert edition_row(ctx.engine, edition_id)["state"] == "sent"
    assert received(smtp_server) == Counter(
        {**{f"reader{i}@example.kr": 1 for i in range(3)}, "reader@xn--bcher-kva.example": 1}
    )
    idn = next(m for m in smtp_server.messages if m.rcpt_tos == ["reader@xn--bcher-kva.example"])
    assert idn.message["To"] == "reader@xn--bcher-kva.example"
    # A Korean local part has no ASCII form: it never reaches RCPT on this relay.
    assert not [c for c in smtp_server.commands if c.command == "RCPT" and not c.argument.isascii()]
    rows = {row["email"]: row for row in delivery_rows(ctx.engine, edition_id)}
    for email in korean:
        assert rows[email]["state"] == "failed"
        assert "SMTPUTF8" in rows[email]["last_error"]
    assert summary.sent == 4 and summary.failed == 4

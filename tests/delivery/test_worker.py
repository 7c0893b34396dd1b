"""`mailer worker` processes: killed with SIGKILL mid-send and restarted; three sharing one edition."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from mailer import delivery as send
from mailer.bootstrap import build_context
from mailer.store import notices as notice_store
from mailer.store.db import write_transaction
from mailer.store.tables import deliveries, heartbeats, notices
from tests.delivery_data import add_edition, add_subscribers, delivery_rows, edition_row
from tests.helpers import cli_env, run_cli, start_cli, stop

CONNECTIONS = 4


@pytest.fixture
def worker_env(tmp_path, database_url, smtp_server):
    return cli_env(
        MAILER_DATABASE_URL=database_url,
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_SECRET_KEY="test-secret-key-0123456789abcdef",
        MAILER_SMTP__HOST=smtp_server.host,
        MAILER_SMTP__PORT=str(smtp_server.port),
        MAILER_SMTP__CONNECTIONS=str(CONNECTIONS),
        MAILER_DELIVERY__BATCH_SIZE="10",
        MAILER_DELIVERY__POLL_SECONDS="0.2",
        MAILER_DELIVERY__BACKOFF_BASE="0.05",
        MAILER_DELIVERY__BACKOFF_MAX="0.1",
        MAILER_LOG_LEVEL="warning",
    )


@pytest.fixture
def ctx(make_settings, database_url):
    context = build_context(make_settings(database_url=database_url))
    yield context
    context.close()


def wait_until(condition, *, timeout: float, what: str, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"worker exited early ({process.returncode}): {stop(process)}")
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def settle_killed_sessions(engine) -> None:
    """Wait until the database has finished what a killed worker had already sent it.

    SIGKILL closes the worker's sockets, but on PostgreSQL a COMMIT it sent just before
    dying is still completed by its server process: until that backend is gone, a read
    may see the rows from before that commit. SQLite commits in the worker's own process,
    so there is nothing to wait for.
    """
    if engine.dialect.name != "postgresql":
        return
    others = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'"
    )

    def settled() -> bool:
        with engine.connect() as conn:
            return conn.execute(others).scalar_one() == 0

    wait_until(settled, timeout=30, what="the killed worker's database sessions to end")


def received(server) -> Counter:
    return Counter(rcpt for message in server.messages for rcpt in message.rcpt_tos)


def test_sigkill_mid_send_then_restart_loses_nothing_and_sends_nothing_twice(
    tmp_path, ctx, worker_env, smtp_server
):
    total = 400
    add_subscribers(ctx.engine, total)
    edition_id = add_edition(ctx.engine)
    send.queue_edition(ctx, edition_id)

    worker = start_cli("worker", env=worker_env, cwd=tmp_path)
    wait_until(
        lambda: len(smtp_server.messages) >= 60, timeout=60, what="sending to start", process=worker
    )
    worker.kill()  # SIGKILL: no chance to close its books
    worker.wait()
    worker.stdout.close()
    settle_killed_sessions(ctx.engine)

    rows = delivery_rows(ctx.engine, edition_id)
    in_flight = {row["id"] for row in rows if row["state"] == "sending"}
    # The database names at most one message per connection as possibly on the wire.
    assert len(in_flight) <= CONNECTIONS
    assert 60 <= len(smtp_server.messages) < total

    restarted = run_cli("worker", "--until-idle", env=worker_env, cwd=tmp_path)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr

    rows = delivery_rows(ctx.engine, edition_id)
    by_state = Counter(row["state"] for row in rows)
    assert set(by_state) <= {"sent", "deferred", "failed", "unknown"}
    unknown = {row["id"] for row in rows if row["state"] == "unknown"}
    assert unknown == in_flight, "unknown exactly for what was in flight at the kill"
    if unknown:
        assert f"{len(unknown)} recovered as unknown" in restarted.stdout
    counts = received(smtp_server)
    assert max(counts.values()) == 1, "nobody got the digest twice"
    sent = {row["email"] for row in rows if row["state"] == "sent"}
    assert sent <= set(counts), "a delivery recorded as sent reached the relay"
    assert set(counts) <= sent | {row["email"] for row in rows if row["id"] in unknown}
    assert len(sent) == total - len(unknown)
    assert edition_row(ctx.engine, edition_id)["state"] == "sent"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_workers_on_postgresql_share_an_edition(tmp_path, ctx, worker_env, smtp_server):
    total = 600
    add_subscribers(ctx.engine, total)
    edition_id = add_edition(ctx.engine)
    workers = [start_cli("worker", env=worker_env, cwd=tmp_path) for _ in range(3)]
    try:

        def registered() -> int:
            with ctx.engine.connect() as conn:
                return len(conn.execute(select(heartbeats)).all())

        wait_until(lambda: registered() == 3, timeout=60, what="three workers")
        # Queue only once all three are polling, so that they really compete.
        assert send.queue_edition(ctx, edition_id) == total
        wait_until(
            lambda: edition_row(ctx.engine, edition_id)["state"] == "sent",
            timeout=90,
            what="the edition to complete",
        )
    finally:
        outputs = [stop(worker) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0], outputs

    counts = received(smtp_server)
    assert counts == Counter({f"reader{i}@example.kr": 1 for i in range(total)})
    rows = delivery_rows(ctx.engine, edition_id)
    assert Counter(row["state"] for row in rows) == Counter({"sent": total})
    senders = Counter(row["claimed_by"] for row in rows)
    assert len(senders) >= 2, f"the work was shared: {senders}"
    with ctx.engine.connect() as conn:
        assert conn.execute(select(heartbeats)).all() == []  # clean stops leave the registry
        assert conn.execute(select(deliveries.c.id).where(deliveries.c.state != "sent")).all() == []


def test_a_notice_in_flight_at_sigkill_becomes_unknown_and_is_never_sent_twice(
    tmp_path, ctx, worker_env, smtp_server
):
    address = "gone@example.kr"
    with write_transaction(ctx.engine) as conn:
        notice_id = notice_store.enqueue(conn, "erasure", to_address=address, now=datetime.now(UTC))
    in_data, release = threading.Event(), threading.Event()

    def hold_the_reply(recipient: str) -> bool:
        # Called by the relay once the whole message has arrived, before it answers:
        # the notice is on the wire and its fate unknown to the worker (RFC 1047).
        if recipient == address and not in_data.is_set():
            in_data.set()
            release.wait(30)
        return False  # then accept it normally

    smtp_server.fail("DATA", 451, when=hold_the_reply)
    worker = start_cli("worker", env=worker_env, cwd=tmp_path)
    try:
        assert in_data.wait(60), "the notice never reached DATA"
        with ctx.engine.connect() as conn:
            state = conn.execute(select(notices.c.state).where(notices.c.id == notice_id))
            assert state.scalar_one() == "sending"
        worker.kill()  # SIGKILL: no chance to close its books
        worker.wait()
    finally:
        release.set()
        worker.stdout.close()

    restarted = run_cli("worker", "--until-idle", env=worker_env, cwd=tmp_path)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "1 notice mails of a stopped worker were marked unknown" in restarted.stdout

    with ctx.engine.connect() as conn:
        row = conn.execute(select(notices).where(notices.c.id == notice_id)).mappings().one()
    assert row["state"] == "unknown" and row["to_address"] is None
    assert "in flight" in row["last_error"]
    # The relay did get it (it answered 250 to a dead worker); nobody sent it again.
    assert received(smtp_server)[address] == 1

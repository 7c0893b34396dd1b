"""`mailer digest send|status|resume|resend-unknown`, `mailer serve` delivering, and the outbox page."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from mailer.bootstrap import build_context
from mailer.store import notices as notice_store
from mailer.store.db import write_transaction
from mailer.store.tables import editions
from mailer.web.app import create_app
from tests.delivery_data import add_edition, add_subscribers, delivery_rows, edition_row
from tests.digest_data import week_of_news
from tests.helpers import (
    cli_env,
    run_cli,
    start_serve,
    stop,
    wait_for,
    wait_for_http,
)


@pytest.fixture
def ctx(make_settings, database_url):
    context = build_context(make_settings(database_url=database_url))
    yield context
    context.close()


@pytest.fixture
def relay_env(tmp_path, database_url, smtp_server):
    return cli_env(
        MAILER_DATABASE_URL=database_url,
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_SECRET_KEY="test-secret-key-0123456789abcdef",
        MAILER_SMTP__HOST=smtp_server.host,
        MAILER_SMTP__PORT=str(smtp_server.port),
        MAILER_SMTP__CONNECTIONS="3",
        MAILER_DELIVERY__BACKOFF_BASE="0.05",
        MAILER_DELIVERY__BACKOFF_MAX="0.1",
        MAILER_DELIVERY__POLL_SECONDS="0.2",
        COLUMNS="120",
    )


def received(server) -> Counter:
    return Counter(rcpt for message in server.messages for rcpt in message.rcpt_tos)


def test_send_wait_against_a_flaky_relay_balances_the_books(tmp_path, ctx, relay_env, smtp_server):
    add_subscribers(ctx.engine, 30)
    add_edition(ctx.engine, number=7)
    # A relay that sometimes refuses for a while and sometimes hangs up.
    smtp_server.fail("RCPT", 451, "greylisted", times=4)
    smtp_server.drop("MAIL", times=2)
    smtp_server.drop("RCPT", times=1)
    smtp_server.fail("RCPT", 550, "no such user", when=lambda a: a == "reader9@example.kr")

    dry = run_cli("digest", "send", "--edition", "7", "--dry-run", env=relay_env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "30 active subscribers" in dry.stdout and "nothing was queued" in dry.stdout
    assert delivery_rows(ctx.engine, 1) == []

    result = run_cli("digest", "send", "--edition", "7", "--wait", env=relay_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "queued 30 deliveries" in result.stdout
    assert "msg/s" in result.stdout and "30/30" in result.stdout
    assert "edition 7 — sent" in result.stdout
    counts = received(smtp_server)
    assert counts == Counter({f"reader{i}@example.kr": 1 for i in range(30) if i != 9})
    states = Counter(row["state"] for row in delivery_rows(ctx.engine, 1))
    assert states == Counter({"sent": 29, "failed": 1})

    status = run_cli("digest", "status", "7", env=relay_env, cwd=tmp_path)
    assert status.returncode == 0
    assert "sent" in status.stdout and "29" in status.stdout and "failed" in status.stdout
    overview = run_cli("digest", "status", env=relay_env, cwd=tmp_path)
    assert overview.returncode == 0 and "recent editions" in overview.stdout

    again = run_cli("digest", "send", "--edition", "7", env=relay_env, cwd=tmp_path)
    assert again.returncode == 0 and "already queued" in again.stdout
    assert sum(received(smtp_server).values()) == 29


def test_unknowns_are_reported_and_resent_on_request(tmp_path, ctx, relay_env, smtp_server):
    add_subscribers(ctx.engine, 4)
    add_edition(ctx.engine, number=2)
    smtp_server.drop("DATA", after_accept=True, when=lambda a: a == "reader3@example.kr")

    result = run_cli("digest", "send", "--edition", "2", "--wait", env=relay_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "unknown" in result.stdout and "mailer digest resend-unknown 2" in result.stdout

    resend = run_cli("digest", "resend-unknown", "2", env=relay_env, cwd=tmp_path)
    assert resend.returncode == 0 and "1 deliveries" in resend.stdout
    worker = run_cli("worker", "--until-idle", env=relay_env, cwd=tmp_path)
    assert worker.returncode == 0, worker.stderr
    assert "sent 1," in worker.stdout
    assert received(smtp_server)["reader3@example.kr"] == 2  # resent on purpose
    nothing = run_cli("digest", "resend-unknown", "2", env=relay_env, cwd=tmp_path)
    assert "no delivery with an unknown outcome" in nothing.stdout


def test_worker_sends_queued_notices_with_the_digests(tmp_path, ctx, relay_env, smtp_server):
    add_subscribers(ctx.engine, 3)
    edition_id = add_edition(ctx.engine, number=3)
    assert run_cli("digest", "send", "--edition", "3", env=relay_env, cwd=tmp_path).returncode == 0
    with write_transaction(ctx.engine) as conn:
        notice_store.enqueue(conn, "erasure", to_address="gone@example.kr", now=datetime.now(UTC))

    worker = run_cli("worker", "--until-idle", env=relay_env, cwd=tmp_path)

    assert worker.returncode == 0, worker.stderr
    assert "sent 3," in worker.stdout and "notice mails: sent 1," in worker.stdout
    assert received(smtp_server)["gone@example.kr"] == 1
    assert edition_row(ctx.engine, edition_id)["state"] == "sent"


def test_paused_edition_exits_1_with_the_reason_and_resumes(tmp_path, ctx, relay_env, smtp_server):
    add_subscribers(ctx.engine, 8)
    add_edition(ctx.engine, number=4)
    env = {**relay_env, "MAILER_DELIVERY__PAUSE_WINDOW": "3"}
    smtp_server.stop()

    result = run_cli("digest", "send", "--edition", "4", "--wait", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "edition 4 — paused" in result.stdout
    assert "transport reasons" in result.stdout and "mailer digest resume 4" in result.stdout

    smtp_server.start()
    resumed = run_cli("digest", "resume", "4", env=env, cwd=tmp_path)
    assert resumed.returncode == 0 and "resumed" in resumed.stdout
    worker = run_cli("worker", "--until-idle", env=env, cwd=tmp_path)
    assert worker.returncode == 0, worker.stderr
    assert edition_row(ctx.engine, 1)["state"] == "sent"
    assert len(received(smtp_server)) == 8

    not_paused = run_cli("digest", "resume", "4", env=env, cwd=tmp_path)
    assert not_paused.returncode == 2 and "not paused" in not_paused.stderr


def test_unknown_edition_number_is_one_clear_line(tmp_path, relay_env, ctx):
    for command in (["status", "9"], ["send", "--edition", "9"]):
        result = run_cli("digest", *command, env=relay_env, cwd=tmp_path)
        assert result.returncode == 1, command
        assert result.stderr.strip() == "error: edition 9 not found"


def test_send_without_edition_builds_one_with_the_digest_step(
    tmp_path, ctx, relay_env, smtp_server
):
    """`digest send --wait` creates the next edition from this week's stories and delivers it."""
    add_subscribers(ctx.engine, 2)
    assert run_cli("init", env=relay_env, cwd=tmp_path).returncode == 0
    with write_transaction(ctx.engine) as conn:
        week_of_news(conn, now=datetime.now(UTC))

    result = run_cli("digest", "send", "--wait", env=relay_env, cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    messages = smtp_server.messages
    assert len(messages) == 2 and len(received(smtp_server)) == 2
    subjects = {message.message["Subject"] for message in messages}
    assert len(subjects) == 1 and "시흥 바이오산업 주간 뉴스" in subjects.pop()
    with ctx.engine.connect() as conn:
        [row] = conn.execute(
            select(editions.c.schedule, editions.c.state, editions.c.scheduled_for)
        ).all()
    assert row.schedule == "manual" and row.state == "sent"
    assert row.scheduled_for.second == row.scheduled_for.microsecond == 0


def test_dry_run_without_edition_creates_nothing(tmp_path, ctx, relay_env):
    add_subscribers(ctx.engine, 5)
    result = run_cli("digest", "send", "--dry-run", env=relay_env, cwd=tmp_path)
    assert result.returncode == 0
    assert "5 active subscribers" in result.stdout and "nothing was created" in result.stdout


def test_serve_delivers_through_the_builtin_outbox_and_lists_it(tmp_path, database_url, ctx):
    add_subscribers(ctx.engine, 3)
    edition_id = add_edition(ctx.engine, number=1, subject="outbox 시험호")
    env = cli_env(
        MAILER_DATABASE_URL=database_url,
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_DELIVERY__POLL_SECONDS="0.2",
    )
    process, base, env = start_serve("--no-scheduler", env=env, cwd=tmp_path)
    try:
        wait_for_http(base + "/healthz", process=process)
        empty = httpx.get(base + "/outbox")
        assert empty.status_code == 200 and "The outbox is empty" in empty.text
        queued = run_cli("digest", "send", "--edition", "1", env=env, cwd=tmp_path)
        assert queued.returncode == 0, queued.stderr
        wait_for(
            lambda: edition_row(ctx.engine, edition_id)["state"] == "sent",
            timeout=30,
            what="serve's worker sending the edition",
        )
        page = httpx.get(base + "/outbox")
        assert page.status_code == 200
        assert page.text.count("outbox 시험호") == 3 and "reader2@example.kr" in page.text
        key = page.text.split('href="/outbox/', 1)[1].split('"', 1)[0]
        raw = httpx.get(f"{base}/outbox/{key}/raw")
        assert (
            raw.status_code == 200
            and "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw.text
        )
        assert httpx.get(base + "/outbox/no-such-key").status_code == 404
    finally:
        stop(process)
    assert Counter(row["state"] for row in delivery_rows(ctx.engine, edition_id)) == {"sent": 3}


async def test_outbox_page_is_absent_with_a_relay_or_off_loopback(make_settings, database_url):
    # Production without a relay does not start at all (tests/web/test_outbox_window.py).
    development = make_settings(database_url=database_url)
    for settings, host, present in (
        (make_settings(database_url=database_url, smtp={"host": "relay.example.kr"}), "::1", False),
        (development, "0.0.0.0", False),
        (development, "::", False),
        (development, None, False),
        # A reverse proxy in front makes a loopback server public.
        (make_settings(database_url=database_url, web={"trusted_proxies": ["::1"]}), "::1", False),
        (development, "127.0.0.1", True),
        (development, "localhost", True),
    ):
        context = build_context(settings)
        try:
            transport = httpx.ASGITransport(app=create_app(context, listen_host=host))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                status = (await client.get("/outbox")).status_code
        finally:
            context.close()
        assert status == (200 if present else 404), (host, settings.smtp.host)


async def test_the_send_progress_bar_follows_the_worker_and_reads_the_counts_twice(
    make_settings, database_url, smtp_server, monkeypatch, capsys
):
    from mailer import delivery
    from mailer.cli.delivery import _deliver_with_progress

    context = build_context(
        make_settings(
            database_url=database_url,
            smtp={"host": smtp_server.host, "port": smtp_server.port},
            delivery={"poll_seconds": 0.2, "batch_size": 2},
        )
    )
    try:
        add_subscribers(context.engine, 5)
        edition_id = add_edition(context.engine, number=3)
        assert delivery.queue_edition(context, edition_id) == 5
        reads = []
        counts = delivery.delivery_counts

        def counted(*args, **kwargs):
            reads.append(args)
            return counts(*args, **kwargs)

        monkeypatch.setattr(delivery, "delivery_counts", counted)
        summary = await _deliver_with_progress(context, edition_id)
    finally:
        context.close()
    assert summary.sent == 5
    assert len(reads) == 2  # the start and the end; the worker reports the rest
    assert "5/5" in capsys.readouterr().out

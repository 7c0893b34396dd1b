"""Real scheduler processes: two at once run each fire time once; edits reach a running `serve`.

The processes are ``mailer scheduler`` / ``mailer serve`` started through
``tests.schedule_support``, which adds the "probe" job kind: each run appends one line
(schedule, fire time, instance) to a file, so a second run of a fire time would show.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from mailer.bootstrap import build_context
from mailer.config import load_settings
from mailer.store import heartbeats as heartbeat_store
from mailer.store.db import write_transaction
from mailer.store.tables import editions
from tests.delivery_data import add_subscribers
from tests.digest_data import week_of_news
from tests.helpers import (
    cli_env,
    run_cli,
    start_serve,
    stop,
    wait_for_http,
    wait_for_output,
)
from tests.schedule_support import add_schedule, probe_lines, runs, start_probe_cli

#: A scheduler's log line for the digest's fire time: it ran it, or found it taken.
DECIDED = re.compile(r"schedule digest: (running digest for|.* was claimed by another scheduler)")


@pytest.fixture
def store(database_url, tmp_path):
    context = build_context(load_settings(database_url=database_url, data_dir=tmp_path / "var"))
    yield context
    context.close()


def process_env(database_url: str, tmp_path, **extra: str) -> dict[str, str]:
    return cli_env(
        MAILER_DATABASE_URL=database_url,
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_SCHEDULER__RELOAD_SECONDS="0.5",
        MAILER_SCHEDULER__HEARTBEAT_SECONDS="0.5",
        MAILER_LOG_LEVEL="info",
        SCHEDULE_PROBE_FILE=str(tmp_path / "probe.log"),
        **extra,
    )


def wait_until(condition, *, timeout: float, processes=()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(f"process exited {process.returncode}:\n{stop(process)}")
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def live_instances(context) -> set[str]:
    since = datetime.now(UTC) - timedelta(seconds=5)
    with context.engine.connect() as conn:
        return {
            row["instance"]
            for row in heartbeat_store.live_heartbeats(conn, role="scheduler", since=since)
        }


def stop_all(*processes) -> list[str]:
    """SIGTERM each process; every one must exit 0 without a traceback (a clean stop)."""
    outputs = [stop(process) for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output
        assert "Traceback" not in output, output
    return outputs


def test_two_scheduler_processes_catch_up_each_missed_fire_time_once(tmp_path, database_url, store):
    # Daily schedules in UTC whose fire times lie well away from now, so that only
    # catch-up (not the clock) decides what runs while the test watches.
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    recent = now - timedelta(minutes=30)
    add_schedule(
        store.engine,
        "daily",
        cron=f"{recent.minute} {recent.hour} * * *",
        grace_seconds=3600,
        updated_at=now - timedelta(days=3, minutes=40),
    )
    old = now - timedelta(hours=3)
    add_schedule(
        store.engine,
        "toolate",
        cron=f"{old.minute} {old.hour} * * *",
        grace_seconds=3600,
        updated_at=now - timedelta(days=1, hours=3, minutes=10),
    )
    # The run of daily's fire time waits at the gate until both processes are up (beating):
    # the second one catches up while the first one's run is still in flight.
    gate = tmp_path / "gate"
    env = process_env(database_url, tmp_path, SCHEDULE_PROBE_GATE=str(gate))
    processes = [start_probe_cli("scheduler", env=env, cwd=tmp_path) for _ in range(2)]
    try:
        wait_until(
            lambda: (
                len(live_instances(store)) == 2
                and [row["outcome"] for row in runs(store.engine, "daily")][-1:] == ["running"]
            ),
            timeout=60,
            processes=processes,
        )
        gate.touch()
        seen: set[str] = set()

        def settled() -> bool:
            seen.update(live_instances(store))
            rows = runs(store.engine, "daily") + runs(store.engine, "toolate")
            return len(rows) == 6 and all(row["outcome"] != "running" for row in rows)

        wait_until(settled, timeout=60, processes=processes)
        wait_until(lambda: len(seen | live_instances(store)) == 2, timeout=10, processes=processes)
    finally:
        outputs = stop_all(*processes)

    [(name, fire_time, instance)] = probe_lines(tmp_path / "probe.log")
    assert (name, fire_time) == ("daily", recent)
    assert instance in seen

    daily = runs(store.engine, "daily")
    assert [row["fire_time"] for row in daily] == [recent - timedelta(days=d) for d in (3, 2, 1, 0)]
    assert [row["outcome"] for row in daily] == ["skipped", "skipped", "skipped", "ran"]
    assert daily[-1]["instance"] == instance
    toolate = runs(store.engine, "toolate")
    assert [row["fire_time"] for row in toolate] == [old - timedelta(days=1), old]
    assert [row["outcome"] for row in toolate] == ["skipped", "skipped"]
    # 3 h plus however far into the minute the test started.
    assert re.fullmatch(
        r"missed while no scheduler ran: 3 h( [12] min)? late, beyond the schedule's grace of 1 h",
        toolate[1]["reason"],
    )
    # Both processes really started and stopped cleanly (their heartbeats are gone).
    assert all("started with 2 schedule(s)" in output for output in outputs)
    assert live_instances(store) == set()


def test_an_edit_reaches_a_running_serve_and_a_once_a_minute_digest_is_delivered_once(
    tmp_path, smtp_server
):
    """The one real-time test (up to about a minute, waiting for the next whole minute).

    `mailer serve` (scheduler + worker) and a second `mailer scheduler` run side by side;
    `schedules set digest "* * * * *"` reaches both without a restart, and the fire time
    yields one edition, delivered once to each subscriber at the test SMTP server.
    """
    database_url = f"sqlite:///{tmp_path / 'mailer.db'}"
    env = process_env(
        database_url,
        tmp_path,
        MAILER_SMTP__HOST=smtp_server.host,
        MAILER_SMTP__PORT=str(smtp_server.port),
        MAILER_DELIVERY__POLL_SECONDS="0.2",
    )
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    for name in ("poll", "reconfirm", "purge"):  # only the digest is under test here
        assert run_cli("schedules", "pause", name, env=env, cwd=tmp_path).returncode == 0
    context = build_context(load_settings(database_url=database_url, data_dir=tmp_path / "var"))
    add_subscribers(context.engine, 3)
    with write_transaction(context.engine) as conn:
        week_of_news(conn, now=datetime.now(UTC))
    serve, base, _ = start_serve(env=env, cwd=tmp_path, start=start_probe_cli)
    second = start_probe_cli("scheduler", env=env, cwd=tmp_path)
    try:
        health = base + "/healthz"
        wait_for_http(health, process=serve)
        wait_until(lambda: len(live_instances(context)) == 2, timeout=30, processes=[serve, second])
        assert httpx.get(health).json()["checks"]["scheduler"] == "ok"

        # "Within seconds" needs seconds before the next minute: an edit at :59 could
        # only reach the processes after that fire time, whatever the reload does.
        wait_until(lambda: datetime.now(UTC).second < 30, timeout=40)
        edited_at = datetime.now(UTC)
        changed = run_cli("schedules", "set", "digest", "* * * * *", env=env, cwd=tmp_path)
        assert changed.returncode == 0, changed.stderr
        first_fire = (edited_at + timedelta(minutes=1)).replace(second=0, microsecond=0)

        wait_until(lambda: len(smtp_server.messages) >= 3, timeout=100, processes=[serve, second])
        # A duplicate could show only once both processes decided about the fire time.
        for process in (serve, second):
            wait_for_output(process, DECIDED, timeout=60)
        recipients = sorted(r for message in smtp_server.messages for r in message.rcpt_tos)
        assert recipients == [f"reader{i}@example.kr" for i in range(3)]
        with context.engine.connect() as conn:
            made = conn.execute(select(editions.c.schedule, editions.c.scheduled_for)).all()
        assert [tuple(row) for row in made][:1] == [("digest", first_fire)]
        assert len({row.scheduled_for for row in made}) == len(made), (
            "a fire time made two editions"
        )
        digest_runs = [
            row for row in runs(context.engine, "digest") if row["fire_time"] == first_fire
        ]
        assert [row["outcome"] for row in digest_runs] == ["ran"]
    finally:
        context.close()
        stop_all(second, serve)


def test_serve_without_scheduler_reports_the_missing_scheduler_on_healthz(tmp_path):
    env = process_env(f"sqlite:///{tmp_path / 'mailer.db'}", tmp_path)
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    serve, base, _ = start_serve("--no-scheduler", env=env, cwd=tmp_path, start=start_probe_cli)
    try:
        response = wait_for_http(base + "/healthz", process=serve)
        assert response.status_code == 200
        assert response.json()["status"] == "degraded"
        assert response.json()["checks"]["scheduler"].startswith("stale: no scheduler is running")
    finally:
        stop_all(serve)

"""The running scheduler: APScheduler kept in step with the table, heartbeats, a clean stop.

APScheduler runs on the real clock here; the tests wait for the event they expect
(with a deadline), never for a length of time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from mailer.bootstrap import build_context
from mailer.schedules import JobRun, Scheduler, pause_schedule, resume_schedule, set_schedule
from mailer.store import schedules as schedule_store
from mailer.store.db import write_transaction
from mailer.store.tables import heartbeats, schedules
from tests.schedule_support import FakeClock, add_schedule, make_db_probe, runs
from tests.schedules.support import fired, wait_for

SEOUL = ZoneInfo("Asia/Seoul")


def engine_for(ctx, clock, *, instance="A", **extra_jobs) -> Scheduler:
    jobs = {"probe": make_db_probe(ctx.engine), **extra_jobs}
    return Scheduler(ctx, jobs=jobs, clock=clock, instance=instance)


# ----------------------------------------------------------------------------- liveness


async def test_claims_of_a_scheduler_that_stopped_beating_are_recorded_as_interrupted(ctx):
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    clock = FakeClock(t)
    alive = engine_for(ctx, clock, instance="alive")
    await alive.beat()
    with write_transaction(ctx.engine) as conn:
        schedule_store.claim_run(conn, "x", t, instance="dead", now=t)
        schedule_store.claim_run(conn, "y", t, instance="alive", now=t)

    clock.advance(seconds=30)
    await alive.beat()
    by_name = {row["schedule"]: row for row in schedule_store_rows(ctx)}
    assert by_name["x"]["outcome"] == "failed"
    assert by_name["x"]["reason"].startswith("interrupted: scheduler dead stopped during the run")
    assert by_name["y"]["outcome"] == "running"

    # "alive" itself goes silent; another scheduler's heartbeat then fails its claim too.
    clock.advance(seconds=ctx.settings.scheduler.stale_after + 1)
    await engine_for(ctx, clock, instance="other").beat()
    assert {row["schedule"]: row["outcome"] for row in schedule_store_rows(ctx)}["y"] == "failed"


def schedule_store_rows(ctx) -> list[dict]:
    with ctx.engine.connect() as conn:
        return schedule_store.list_runs(conn)


async def test_stop_waits_for_a_running_job_then_records_it_as_interrupted(
    make_settings, database_url
):
    settings = make_settings(database_url=database_url, scheduler={"stop_timeout": 0.2})
    context = build_context(settings)
    try:
        started = asyncio.Event()

        async def endless(run: JobRun) -> str:
            started.set()
            await asyncio.Event().wait()
            return "never"

        updated = datetime.now(UTC) - timedelta(minutes=2)
        add_schedule(context.engine, "stuck", kind="endless", cron="* * * * *", updated_at=updated)
        engine = Scheduler(context, jobs={"endless": endless}, instance="A")
        await engine.start()  # catch-up starts the run of the latest missed minute
        await asyncio.wait_for(started.wait(), 5)
        await engine.stop()

        fire_time = engine.started_at.replace(second=0, microsecond=0)
        by_time = {row["fire_time"]: row for row in runs(context.engine, "stuck")}
        assert (by_time[fire_time]["outcome"], by_time[fire_time]["reason"]) == (
            "failed",
            "interrupted: the scheduler stopped",
        )
        with context.engine.connect() as conn:
            assert conn.execute(select(heartbeats)).all() == []
    finally:
        context.close()


# ----------------------------------------------------------------------------- live edits


async def test_a_running_scheduler_applies_edits_pauses_and_new_rows_without_restart(ctx):
    now = datetime.now(UTC)
    add_schedule(ctx.engine, "yearly", cron="0 0 1 1 *", updated_at=now)
    engine = engine_for(ctx, lambda: datetime.now(UTC))
    await engine.start()
    try:
        new_year = datetime(now.year + 1, 1, 1, tzinfo=UTC)
        assert engine.next_run_time("yearly") == new_year

        set_schedule(ctx, "yearly", "15 6 * * *", timezone="Asia/Seoul")
        today_0615 = datetime.now(SEOUL).replace(hour=6, minute=15, second=0, microsecond=0)
        expected = (
            today_0615 if today_0615 > datetime.now(SEOUL) else today_0615 + timedelta(days=1)
        )
        await wait_for(lambda: engine.next_run_time("yearly") != new_year)
        assert engine.next_run_time("yearly") == expected

        pause_schedule(ctx, "yearly")
        await wait_for(lambda: engine.next_run_time("yearly") is None)
        resume_schedule(ctx, "yearly")
        await wait_for(lambda: engine.next_run_time("yearly") == expected)

        add_schedule(ctx.engine, "added", cron="0 0 1 1 *", updated_at=datetime.now(UTC))
        await wait_for(lambda: engine.next_run_time("added") == new_year)
        with write_transaction(ctx.engine) as conn:
            conn.execute(delete(schedules).where(schedules.c.name == "added"))
        await wait_for(lambda: engine.next_run_time("added") is None)

        # A row broken behind our back (not through set_schedule) is left unscheduled.
        with write_transaction(ctx.engine) as conn:
            conn.execute(
                schedules.update().where(schedules.c.name == "yearly").values(cron="99 * * * *")
            )
        await wait_for(lambda: engine.next_run_time("yearly") is None)
    finally:
        await engine.stop()


async def test_start_catches_up_in_the_background_and_beats_until_stopped(ctx):
    # A daily schedule whose fire time was half an hour ago; down for the last 2 days.
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    latest = now - timedelta(minutes=30)
    add_schedule(
        ctx.engine,
        "daily",
        cron=f"{latest.minute} {latest.hour} * * *",
        updated_at=now - timedelta(days=2, minutes=40),
    )
    engine = engine_for(ctx, lambda: datetime.now(UTC))
    await engine.start()
    try:
        await wait_for(
            lambda: [row["outcome"] for row in runs(ctx.engine, "daily")][-1:] == ["ran"]
        )
        assert fired(ctx) == [latest]
        rows = runs(ctx.engine, "daily")
        assert [row["fire_time"] for row in rows] == [
            latest - timedelta(days=2),
            latest - timedelta(days=1),
            latest,
        ]
        assert [row["outcome"] for row in rows] == ["skipped", "skipped", "ran"]

        def seen() -> datetime:
            with ctx.engine.connect() as conn:
                return conn.execute(select(heartbeats.c.seen_at)).scalar_one()

        first = seen()
        await wait_for(lambda: seen() > first)
    finally:
        await engine.stop()
    with ctx.engine.connect() as conn:
        assert conn.execute(select(heartbeats)).all() == []


async def test_apscheduler_hands_each_due_fire_time_to_the_handler(ctx):
    # Added while the scheduler runs, edited just before a fire time that has passed:
    # APScheduler finds that time due at once, and the time its submission event
    # carries is the fire time that runs (public APScheduler 3 API only). The engine's
    # clock stands still a second after that fire time, so the test is the same at any
    # moment of the minute; APScheduler itself runs on the real clock.
    due = datetime.now(UTC).replace(second=0, microsecond=0)
    engine = engine_for(ctx, FakeClock(due + timedelta(seconds=1)))
    await engine.start()
    try:
        add_schedule(
            ctx.engine, "minutely", cron="* * * * *", updated_at=due - timedelta(seconds=1)
        )
        await wait_for(lambda: [row["outcome"] for row in runs(ctx.engine, "minutely")] == ["ran"])
        assert fired(ctx) == [due]
    finally:
        await engine.stop()

"""The scheduler engine in process: exactly once per fire time, catch-up within grace, live edits.

Time is driven by a FakeClock (the engine reads "now" only from it); APScheduler itself
runs on the real clock only in the tests that watch it apply edits. The job kind is
"probe", which writes one audit_log row per run, so every run is visible in the database.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, event, select, text

from mailer.bootstrap import build_context
from mailer.errors import JobSkipped
from mailer.jobs import JOBS, JobRun
from mailer.schedules.edit import pause_schedule, resume_schedule, set_schedule
from mailer.schedules.leases import held_lease
from mailer.schedules.runner import TAKEN, Scheduler
from mailer.store import schedules as schedule_store
from mailer.store.tables import heartbeats, schedules
from tests.schedule_support import FakeClock, add_schedule, make_db_probe, probe_rows, runs

SEOUL = ZoneInfo("Asia/Seoul")
#: A Monday, 09:00 in Seoul: the default digest fire time.
MONDAY_9 = datetime(2026, 11, 30, 9, 0, tzinfo=SEOUL)


@pytest.fixture
def ctx(make_settings, database_url):
    settings = make_settings(
        database_url=database_url,
        scheduler={"reload_seconds": 0.05, "heartbeat_seconds": 0.05, "stop_timeout": 5},
    )
    context = build_context(settings)
    yield context
    context.close()


def engine_for(ctx, clock, *, instance="A", probe_seconds=0.0, **extra_jobs) -> Scheduler:
    jobs = {"probe": make_db_probe(ctx.engine, seconds=probe_seconds), **extra_jobs}
    return Scheduler(ctx, jobs=jobs, clock=clock, instance=instance)


def fired(ctx) -> list[datetime]:
    return [datetime.fromisoformat(row["detail"]["fire_time"]) for row in probe_rows(ctx.engine)]


# ----------------------------------------------------------------------------- catch-up


async def test_downtime_within_grace_runs_the_latest_missed_fire_time_once(ctx):
    # Down since well before two earlier Mondays; back 2 hours after this Monday 09:00.
    add_schedule(
        ctx.engine,
        "weekly",
        cron="0 9 * * mon",
        timezone="Asia/Seoul",
        grace_seconds=6 * 3600,
        updated_at=MONDAY_9 - timedelta(days=15),
    )
    clock = FakeClock(MONDAY_9 + timedelta(hours=2))
    outcomes = await engine_for(ctx, clock).catch_up()

    assert fired(ctx) == [MONDAY_9]
    rows = runs(ctx.engine, "weekly")
    assert [row["fire_time"] for row in rows] == [
        MONDAY_9 - timedelta(days=14),
        MONDAY_9 - timedelta(days=7),
        MONDAY_9,
    ]
    assert [row["outcome"] for row in rows] == ["skipped", "skipped", "ran"]
    assert all("missed while no scheduler ran" in row["reason"] for row in rows[:2])
    assert all(
        "superseded by the later fire time Mon 2026-11-30 09:00 KST" in r["reason"]
        for r in rows[:2]
    )
    assert rows[2]["reason"] == "probe ran for 00:00"
    assert [o.outcome for o in outcomes] == ["skipped", "skipped", "ran"]

    # Starting again (later, or a second scheduler) finds nothing left to do: never twice.
    clock.advance(minutes=30)
    assert await engine_for(ctx, clock, instance="B").catch_up() == []
    assert fired(ctx) == [MONDAY_9]


async def test_downtime_beyond_grace_records_the_skip_and_its_reason(ctx):
    add_schedule(
        ctx.engine,
        "weekly",
        cron="0 9 * * mon",
        timezone="Asia/Seoul",
        grace_seconds=6 * 3600,
        updated_at=MONDAY_9 - timedelta(days=1),
    )
    clock = FakeClock(MONDAY_9 + timedelta(hours=7, minutes=2))
    await engine_for(ctx, clock).catch_up()

    assert fired(ctx) == []
    [row] = runs(ctx.engine, "weekly")
    assert row["fire_time"] == MONDAY_9
    assert row["outcome"] == "skipped"
    assert row["reason"] == (
        "missed while no scheduler ran: 7 h 2 min late, beyond the schedule's grace of 6 h"
    )


async def test_catch_up_starts_after_the_last_recorded_run_and_after_the_last_edit(ctx):
    base = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    add_schedule(ctx.engine, "recorded", cron="0 * * * *", updated_at=base - timedelta(days=2))
    add_schedule(ctx.engine, "edited", cron="0 * * * *", updated_at=base + timedelta(minutes=5))
    with ctx.engine.begin() as conn:
        schedule_store.record_run(
            conn, "recorded", base, outcome="ran", reason="earlier", instance="old", now=base
        )
    clock = FakeClock(base + timedelta(minutes=70))
    await engine_for(ctx, clock).catch_up()

    # 13:00 is the only fire time after the recorded 12:00 run and after the 12:05 edit.
    assert sorted(fired(ctx)) == [base + timedelta(hours=1)] * 2
    assert [row["fire_time"] for row in runs(ctx.engine, "recorded")] == [
        base,
        base + timedelta(hours=1),
    ]


async def test_paused_schedules_are_not_caught_up_and_resume_does_not_make_up_the_pause(ctx):
    base = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    add_schedule(ctx.engine, "hourly", cron="0 * * * *", updated_at=base - timedelta(days=1))
    pause_schedule(ctx, "hourly", now=base - timedelta(hours=5))
    clock = FakeClock(base + timedelta(minutes=10))
    assert await engine_for(ctx, clock).catch_up() == []

    resume_schedule(ctx, "hourly", now=base + timedelta(minutes=20))
    clock.now = base + timedelta(hours=1, minutes=1)
    await engine_for(ctx, clock).catch_up()
    assert fired(ctx) == [base + timedelta(hours=1)]


async def test_a_very_long_downtime_is_recorded_as_one_summary_and_the_latest_fire_time(ctx):
    now = datetime(2026, 12, 3, 8, 30, 20, tzinfo=UTC)
    add_schedule(ctx.engine, "minutely", cron="* * * * *", updated_at=now - timedelta(days=2))
    await engine_for(ctx, FakeClock(now)).catch_up()

    rows = runs(ctx.engine, "minutely")
    assert len(rows) == 2
    summary, latest = rows
    assert summary["fire_time"] == now.replace(second=0) - timedelta(days=2, minutes=-1)
    assert summary["outcome"] == "skipped"
    assert "more than 500 fire times" in summary["reason"]
    assert latest["fire_time"] == now.replace(second=0)
    assert latest["outcome"] == "ran"
    assert fired(ctx) == [now.replace(second=0)]


# ----------------------------------------------------------------------------- firing


async def test_two_schedulers_firing_the_same_times_at_once_run_each_once(ctx):
    other = build_context(ctx.settings)  # its own connection pool, like another process
    try:
        t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        add_schedule(ctx.engine, "hourly", cron="0 * * * *", updated_at=t - timedelta(days=1))
        clock = FakeClock(t + timedelta(seconds=1))
        gate, probe = asyncio.Event(), make_db_probe(ctx.engine)

        async def gated(run: JobRun) -> str:
            await asyncio.wait_for(gate.wait(), 30)
            return await probe(run)

        a = engine_for(ctx, clock, instance="A", probe=gated)
        b = engine_for(other, clock, instance="B", probe=gated)

        attempts = [
            asyncio.create_task(a.fire("hourly", t)),
            asyncio.create_task(b.fire("hourly", t)),
        ]
        # The winner's run waits at the gate: the other attempt ends while it is in flight.
        done, _ = await asyncio.wait(attempts, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        assert [o.outcome for task in done for o in task.result()] == [TAKEN]
        gate.set()
        first, second = await asyncio.gather(*attempts)
        assert sorted(o.outcome for o in first + second) == ["ran", TAKEN]

        clock.advance(hours=1)
        both = await asyncio.gather(
            a.catch_up(), b.catch_up(), a.fire("hourly", t + timedelta(hours=1))
        )
        # Whichever attempt claims 13:00 first runs it; the others find it taken (or, if
        # the run was already recorded when they looked, nothing left to catch up).
        outcomes = [o.outcome for attempt in both for o in attempt]
        assert outcomes.count("ran") == 1
        assert set(outcomes) <= {"ran", TAKEN}
        assert fired(ctx) == [t, t + timedelta(hours=1)]
        assert [row["outcome"] for row in runs(ctx.engine, "hourly")] == ["ran", "ran"]
    finally:
        other.close()


async def test_a_late_fire_time_runs_within_grace_and_is_skipped_beyond_it(ctx):
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    add_schedule(ctx.engine, "hourly", cron="0 * * * *", grace_seconds=600, updated_at=t)
    clock = FakeClock(t + timedelta(minutes=9))
    [outcome] = await engine_for(ctx, clock).fire("hourly", t)
    assert outcome.outcome == "ran"

    later = t + timedelta(hours=1)
    clock.now = later + timedelta(minutes=11)
    [outcome] = await engine_for(ctx, clock).fire("hourly", later)
    assert outcome.outcome == "skipped"
    assert outcome.reason == "fired late: 11 min late, beyond the schedule's grace of 10 min"
    assert fired(ctx) == [t]


async def test_a_fire_time_after_a_pause_or_a_cron_change_does_not_run(ctx):
    # APScheduler may fire between an edit and the next reload; the claim re-reads the row.
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    add_schedule(ctx.engine, "hourly", cron="0 * * * *", updated_at=t - timedelta(days=1))
    pause_schedule(ctx, "hourly", now=t - timedelta(seconds=2))
    clock = FakeClock(t)
    [paused] = await engine_for(ctx, clock).fire("hourly", t)
    assert (paused.outcome, paused.reason) == (
        "skipped",
        "the schedule was paused before this fire time",
    )

    resume_schedule(ctx, "hourly", now=t)
    set_schedule(ctx, "hourly", "30 * * * *", now=t)
    clock.advance(hours=1)
    [moved] = await engine_for(ctx, clock).fire("hourly", t + timedelta(hours=1))
    assert moved.outcome == "skipped"
    assert "not a fire time of the schedule any more (now '30 * * * *' in UTC)" in moved.reason
    assert fired(ctx) == []


async def test_job_outcomes_failed_skipped_and_unknown_kind_are_recorded(ctx):
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    async def broken(run: JobRun) -> str:
        raise RuntimeError("feed store unreachable")

    async def reluctant(run: JobRun) -> str:
        raise JobSkipped("nothing to do this time")

    for name, kind in [("b", "broken"), ("r", "reluctant"), ("u", "no-such-kind")]:
        add_schedule(ctx.engine, name, kind=kind, cron="0 * * * *", updated_at=t)
    engine = engine_for(ctx, FakeClock(t), broken=broken, reluctant=reluctant)
    for name in "bru":
        await engine.fire(name, t)

    outcomes = {name: runs(ctx.engine, name)[0] for name in "bru"}
    assert (outcomes["b"]["outcome"], outcomes["b"]["reason"]) == (
        "failed",
        "RuntimeError: feed store unreachable",
    )
    assert (outcomes["r"]["outcome"], outcomes["r"]["reason"]) == (
        "skipped",
        "nothing to do this time",
    )
    assert outcomes["u"]["outcome"] == "failed"
    assert "no job for kind 'no-such-kind'" in outcomes["u"]["reason"]
    assert all(row["finished_at"] == t for row in outcomes.values())


async def test_the_default_registry_names_every_seeded_kind():
    from mailer.seed import DEFAULT_SCHEDULES

    assert {kind for _, kind, _, _ in DEFAULT_SCHEDULES} <= set(JOBS)


async def test_poll_is_skipped_while_another_scheduler_holds_the_poll_lease(ctx):
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    add_schedule(ctx.engine, "poll", kind="poll", cron="*/30 * * * *", updated_at=t)
    clock = FakeClock(t)
    async with held_lease(ctx, "poll", holder="other-host:42:abc", clock=clock):
        [outcome] = await Scheduler(ctx, clock=clock, instance="A").fire("poll", t)
    assert outcome.outcome == "skipped"
    assert outcome.reason.startswith("another scheduler is polling the feeds")
    assert "held by other-host:42:abc" in outcome.reason


async def test_a_fire_time_waits_out_a_database_outage_instead_of_being_lost(ctx):
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    add_schedule(ctx.engine, "hourly", cron="0 * * * *", updated_at=t - timedelta(days=1))
    # The run table disappears for a while (as good as an unreachable database).
    with ctx.engine.begin() as conn:
        conn.execute(text("ALTER TABLE schedule_runs RENAME TO schedule_runs_away"))
    failures: list[object] = []
    event.listen(ctx.engine, "handle_error", failures.append)
    firing = asyncio.create_task(engine_for(ctx, FakeClock(t)).fire("hourly", t))
    await wait_for(lambda: len(failures) >= 2)  # it met the outage, and tried again
    assert not firing.done()
    with ctx.engine.begin() as conn:
        conn.execute(text("ALTER TABLE schedule_runs_away RENAME TO schedule_runs"))
    [outcome] = await asyncio.wait_for(firing, 5)
    assert outcome.outcome == "ran"
    assert fired(ctx) == [t]


# ----------------------------------------------------------------------------- liveness


async def test_claims_of_a_scheduler_that_stopped_beating_are_recorded_as_interrupted(ctx):
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    clock = FakeClock(t)
    alive = engine_for(ctx, clock, instance="alive")
    await alive.beat()
    with ctx.engine.begin() as conn:
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


async def wait_for(condition, *, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


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
        with ctx.engine.begin() as conn:
            conn.execute(delete(schedules).where(schedules.c.name == "added"))
        await wait_for(lambda: engine.next_run_time("added") is None)

        # A row broken behind our back (not through set_schedule) is left unscheduled.
        with ctx.engine.begin() as conn:
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

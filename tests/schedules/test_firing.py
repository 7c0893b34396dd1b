"""Exactly once per fire time, in process: claims, catch-up within grace, skips with reasons.

Time is driven by a FakeClock (the handler reads "now" only from it). The job kind is
"probe", which writes one audit_log row per run, so every run is visible in the database.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

from mailer.bootstrap import build_context
from mailer.errors import JobSkipped
from mailer.schedules import TAKEN, JobRun, pause_schedule, resume_schedule, set_schedule
from mailer.schedules.firing import FireTimeHandler
from mailer.store import schedules as schedule_store
from mailer.store.db import write_transaction
from tests.schedule_support import FakeClock, add_schedule, make_db_probe, runs
from tests.schedules.support import fired, wait_for

SEOUL = ZoneInfo("Asia/Seoul")
#: A Monday, 09:00 in Seoul: the default digest fire time.
MONDAY_9 = datetime(2026, 11, 30, 9, 0, tzinfo=SEOUL)


def engine_for(ctx, clock, *, instance="A", probe_seconds=0.0, **extra_jobs) -> FireTimeHandler:
    jobs = {"probe": make_db_probe(ctx.engine, seconds=probe_seconds), **extra_jobs}
    return FireTimeHandler(ctx, jobs=jobs, clock=clock, instance=instance)


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
    with write_transaction(ctx.engine) as conn:
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


async def test_a_fire_time_waits_out_a_database_outage_instead_of_being_lost(ctx, caplog):
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    add_schedule(ctx.engine, "hourly", cron="0 * * * *", updated_at=t - timedelta(days=1))
    # The run table disappears for a while (as good as an unreachable database).
    with write_transaction(ctx.engine) as conn:
        conn.execute(text("ALTER TABLE schedule_runs RENAME TO schedule_runs_away"))
    caplog.set_level(logging.WARNING, logger="mailer.schedules")
    firing = asyncio.create_task(engine_for(ctx, FakeClock(t)).fire("hourly", t))
    await wait_for(lambda: "database unavailable" in caplog.text)
    assert not firing.done()  # it waits for the database instead of giving the fire time up
    with write_transaction(ctx.engine) as conn:
        conn.execute(text("ALTER TABLE schedule_runs_away RENAME TO schedule_runs"))
    [outcome] = await asyncio.wait_for(firing, 5)
    assert outcome.outcome == "ran"
    assert fired(ctx) == [t]


# ----------------------------------------------------------------------------- the run table


def test_a_fire_time_is_claimed_once_and_finished_by_its_claimer(ctx):
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with write_transaction(ctx.engine) as conn:
        assert schedule_store.claim_run(conn, "s", t, instance="A", now=t) is True
    with write_transaction(ctx.engine) as conn:
        assert schedule_store.claim_run(conn, "s", t, instance="B", now=t) is False
        assert (
            schedule_store.record_run(
                conn, "s", t, outcome="skipped", reason="r", instance="B", now=t
            )
            is False
        )
        # The same instant written in another zone is the same fire time.
        assert (
            schedule_store.claim_run(conn, "s", t.astimezone(SEOUL), instance="B", now=t) is False
        )
    with write_transaction(ctx.engine) as conn:
        assert (
            schedule_store.finish_run(conn, "s", t, instance="B", outcome="ran", reason=None, now=t)
            is False
        )
        assert (
            schedule_store.finish_run(conn, "s", t, instance="A", outcome="ran", reason="ok", now=t)
            is True
        )
        assert schedule_store.last_fire_time(conn, "s") == t
        [row] = schedule_store.list_runs(conn, "s")
    assert (row["outcome"], row["reason"], row["instance"], row["finished_at"]) == (
        "ran",
        "ok",
        "A",
        t,
    )

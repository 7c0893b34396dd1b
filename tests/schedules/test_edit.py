"""Schedule use cases: cron and time zone validation, edits, views in local time, fire-time rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailer.errors import InvalidInputError, LeaseTaken, NotFoundError
from mailer.schedules.edit import (
    cron_trigger,
    decide,
    describe_seconds,
    fire_times_between,
    get_schedule_view,
    latest_fire_time,
    list_schedule_views,
    missed_fire_times,
    next_fire_times,
    pause_schedule,
    resume_schedule,
    scheduler_liveness,
    set_schedule,
)
from mailer.seed import initialise
from mailer.store import heartbeats as heartbeat_store
from mailer.store import schedules as store
from mailer.store.tables import schedules

SEOUL = ZoneInfo("Asia/Seoul")


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("cron", "timezone", "message"),
    [
        ("*/2 * * *", "UTC", "it has 4 field(s), expected 5 — minute hour day-of-month"),
        ("0 9 * * mon tue", "UTC", "it has 6 field(s), expected 5"),
        ("", "UTC", "it has 0 field(s), expected 5"),
        (
            "61 9 * * mon",
            "UTC",
            "minute field '61': the last value (61) is higher than the maximum value (59)",
        ),
        (
            "0 24 * * *",
            "UTC",
            "hour field '24': the last value (24) is higher than the maximum value (23)",
        ),
        ("0 9 32 * *", "UTC", "day of month field '32'"),
        ("0 9 * 13 *", "UTC", "month field '13'"),
        (
            "abc 9 * * *",
            "UTC",
            'minute field \'abc\': Unrecognized expression "abc" for field "minute"',
        ),
        ("0 9 * * funday", "UTC", "day of week field 'funday'"),
        ("*/0 * * * *", "UTC", "minute field '*/0': Increment must be higher than 0"),
        ("0 9 * * 1", "UTC", "write the day of week with names (mon, tue, wed, thu, fri, sat, sun"),
        ("0 9 * * 1-5", "UTC", "not '1-5'"),
        ("0 0 31 2 *", "UTC", "it never fires (no such date)"),
        (
            "0 9 * * mon",
            "KST",
            "unknown time zone 'KST': use an IANA time zone name such as Asia/Seoul",
        ),
        ("0 9 * * mon", "Asia/Nowhere", "unknown time zone 'Asia/Nowhere'"),
        ("0 9 * * mon", "../../etc/passwd", "unknown time zone"),
        ("0 9 * * mon", "", "unknown time zone ''"),
    ],
)
def test_invalid_cron_or_time_zone_is_refused_saying_what_is_wrong(cron, timezone, message):
    with pytest.raises(InvalidInputError) as caught:
        cron_trigger(cron, timezone)
    assert message in str(caught.value)
    assert caught.value.field in ("cron", "timezone")


def test_valid_expressions_fire_when_crontab_says():
    after = datetime(2026, 11, 25, 18, 7, tzinfo=UTC)  # Thursday 03:07 in Seoul
    digest = next_fire_times(cron_trigger("0 9 * * mon", "Asia/Seoul"), after=after, count=2)
    assert [t.astimezone(SEOUL) for t in digest] == [
        datetime(2026, 11, 30, 9, 0, tzinfo=SEOUL),
        datetime(2026, 12, 7, 9, 0, tzinfo=SEOUL),
    ]
    every_two = next_fire_times(cron_trigger("  */2  *  * * * ", "UTC"), after=after, count=3)
    assert every_two == [after.replace(minute=m) for m in (8, 10, 12)]
    weekdays = next_fire_times(cron_trigger("30 8 * * mon-fri", "UTC"), after=after, count=3)
    assert [t.strftime("%a %d %H:%M") for t in weekdays] == [
        "Thu 26 08:30",
        "Fri 27 08:30",
        "Mon 30 08:30",
    ]


def test_fire_times_between_and_the_latest_fire_time():
    trigger = cron_trigger("15 * * * *", "UTC")
    start = datetime(2026, 12, 1, 0, 15, tzinfo=UTC)
    times, more = fire_times_between(
        trigger, after=start, until=start + timedelta(hours=3), limit=10
    )
    assert times == [start + timedelta(hours=h) for h in (1, 2, 3)]  # after is exclusive
    assert more is False
    times, more = fire_times_between(
        trigger, after=start, until=start + timedelta(hours=3), limit=2
    )
    assert (len(times), more) == (2, True)
    yearly = cron_trigger("0 0 1 1 *", "UTC")
    assert latest_fire_time(yearly, until=datetime(2026, 11, 25, tzinfo=UTC)) == datetime(
        2026, 1, 1, tzinfo=UTC
    )


def test_missed_fire_times_start_after_the_later_of_last_run_and_last_edit():
    row = {
        "name": "hourly",
        "cron": "0 * * * *",
        "timezone": "UTC",
        "updated_at": datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
    }
    now = datetime(2026, 12, 1, 12, 10, tzinfo=UTC)
    hours = [datetime(2026, 12, 1, h, tzinfo=UTC) for h in (10, 11, 12)]
    assert missed_fire_times(row, last_recorded=None, now=now).times == hours
    assert missed_fire_times(row, last_recorded=hours[0], now=now).times == hours[1:]
    old_run = datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert missed_fire_times(row, last_recorded=old_run, now=now).times == hours


def test_decide_runs_only_the_latest_within_grace_and_explains_every_skip():
    row = {
        "name": "d",
        "cron": "0 9 * * mon",
        "timezone": "Asia/Seoul",
        "enabled": True,
        "grace_seconds": 6 * 3600,
    }
    mondays = [datetime(2026, 11, d, 9, tzinfo=SEOUL) for d in (23, 30)]
    decisions = decide(row, list(reversed(mondays)), now=mondays[1] + timedelta(hours=1), cause="c")
    assert [(d.fire_time, d.run) for d in decisions] == [(mondays[0], False), (mondays[1], True)]
    assert decisions[0].reason == (
        "c; superseded by the later fire time Mon 2026-11-30 09:00 KST "
        "(only the latest due fire time runs)"
    )
    [late] = decide(row, mondays[1:], now=mondays[1] + timedelta(hours=6, seconds=1), cause="c")
    assert late.run is False
    assert late.reason == "c: 6 h late, beyond the schedule's grace of 6 h"
    [gone] = decide(None, mondays[1:], now=mondays[1], cause="c")
    assert (gone.run, gone.reason) == (False, "the schedule was deleted")
    assert decide(row, [], now=mondays[1], cause="c") == []


def test_describe_seconds():
    assert [describe_seconds(s) for s in (0, 45, 60, 125, 3600, 25320, 21600, 90000)] == [
        "0 s",
        "45 s",
        "1 min",
        "2 min 5 s",
        "1 h",
        "7 h 2 min",
        "6 h",
        "1 d 1 h",
    ]


# ----------------------------------------------------------------------------- editing


def test_set_changes_cron_time_zone_and_grace_and_stamps_the_edit(context):
    initialise(context)
    before = datetime.now(UTC)
    view = set_schedule(context, "digest", " */2  * * * * ", timezone="UTC", grace_seconds=600)
    assert (view.cron, view.timezone, view.grace_seconds, view.state) == (
        "*/2 * * * *",
        "UTC",
        600,
        "enabled",
    )
    with context.engine.connect() as conn:
        row = store.get_schedule(conn, "digest")
    assert row["cron"] == "*/2 * * * *"
    assert row["updated_at"] >= before
    # The time zone is kept when not given.
    assert set_schedule(context, "digest", "0 9 * * mon").timezone == "UTC"


def test_set_refuses_bad_input_and_changes_nothing(context):
    initialise(context)
    with context.engine.connect() as conn:
        before = store.get_schedule(conn, "digest")
    for cron, timezone, grace in [
        ("0 9 * *", None, None),
        ("0 9 * * mon", "Seoul", None),
        ("0 9 * * mon", None, -1),
    ]:
        with pytest.raises(InvalidInputError):
            set_schedule(context, "digest", cron, timezone=timezone, grace_seconds=grace)
    with context.engine.connect() as conn:
        assert store.get_schedule(conn, "digest") == before
    with pytest.raises(NotFoundError, match="schedule nightly not found"):
        set_schedule(context, "nightly", "0 9 * * mon")
    with pytest.raises(NotFoundError):
        pause_schedule(context, "nightly")


def test_pause_and_resume(context):
    initialise(context)
    paused = pause_schedule(context, "poll")
    assert (paused.state, paused.next_runs) == ("paused", ())
    stamp = datetime(2030, 1, 1, tzinfo=UTC)
    # Pausing what is paused changes nothing, not even the edit stamp.
    pause_schedule(context, "poll", now=stamp)
    with context.engine.connect() as conn:
        assert store.get_schedule(conn, "poll")["updated_at"] < stamp
    resumed = resume_schedule(context, "poll", now=stamp)
    assert resumed.state == "enabled"
    assert resumed.next_runs[0] == datetime(2030, 1, 1, 9, 30, tzinfo=SEOUL)  # 00:00 UTC + 30 min


def test_list_shows_next_runs_in_local_time_and_the_last_run(context):
    initialise(context)
    now = datetime(2026, 11, 25, 18, 7, tzinfo=UTC)  # Thursday 03:07 in Seoul
    with context.engine.begin() as conn:
        monday = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
        store.record_run(
            conn, "digest", monday, outcome="skipped", reason="why", instance="x", now=monday
        )
        conn.execute(
            schedules.update().where(schedules.c.name == "purge").values(cron="not a cron")
        )
    views = {view.name: view for view in list_schedule_views(context, now=now, count=2)}
    assert sorted(views) == ["digest", "poll", "purge", "reconfirm"]
    digest = views["digest"]
    assert [(t.tzinfo, t.strftime("%a %H:%M")) for t in digest.next_runs] == [
        (SEOUL, "Mon 09:00"),
        (SEOUL, "Mon 09:00"),
    ]
    assert digest.last_run["fire_time"] == monday
    assert (digest.last_run["outcome"], digest.last_run["reason"]) == ("skipped", "why")
    assert [t.strftime("%H:%M") for t in views["poll"].next_runs] == ["03:30", "04:00"]
    assert views["purge"].state == "invalid"
    assert "it has 3 field(s)" in views["purge"].problem
    assert views["reconfirm"].last_run is None
    as_json = digest.as_json()
    assert as_json["next_runs"] == ["2026-11-30T09:00:00+09:00", "2026-12-07T09:00:00+09:00"]
    assert as_json["last_run"]["fire_time"] == "2026-11-23T09:00:00+09:00"
    assert get_schedule_view(context, "digest", now=now).next_runs[0] == digest.next_runs[0]


# ----------------------------------------------------------------------------- liveness


def test_liveness_reports_no_scheduler_a_stale_one_and_a_live_one(context):
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    nobody = scheduler_liveness(context, now=now)
    assert nobody.alive is False
    assert nobody.message.startswith("no scheduler is running")
    with context.engine.begin() as conn:
        heartbeat_store.record_heartbeat(
            conn, "h:1:a", role="scheduler", host="h", pid=1, started_at=now, now=now
        )
    stale = scheduler_liveness(context, now=now + timedelta(seconds=121))
    assert stale.alive is False
    assert stale.message.startswith(
        "no scheduler heartbeat for 2 min 1 s (last: h pid 1 at 2026-12-01 12:00:00 UTC)"
    )
    fresh = scheduler_liveness(context, now=now + timedelta(seconds=119))
    assert fresh.alive is True
    assert fresh.running == 1


# ----------------------------------------------------------------------------- store


def test_a_fire_time_is_claimed_once_and_finished_by_its_claimer(context):
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with context.engine.begin() as conn:
        assert store.claim_run(conn, "s", t, instance="A", now=t) is True
    with context.engine.begin() as conn:
        assert store.claim_run(conn, "s", t, instance="B", now=t) is False
        assert (
            store.record_run(conn, "s", t, outcome="skipped", reason="r", instance="B", now=t)
            is False
        )
        # The same instant written in another zone is the same fire time.
        assert store.claim_run(conn, "s", t.astimezone(SEOUL), instance="B", now=t) is False
    with context.engine.begin() as conn:
        assert (
            store.finish_run(conn, "s", t, instance="B", outcome="ran", reason=None, now=t) is False
        )
        assert (
            store.finish_run(conn, "s", t, instance="A", outcome="ran", reason="ok", now=t) is True
        )
        assert store.last_fire_time(conn, "s") == t
        [row] = store.list_runs(conn, "s")
    assert (row["outcome"], row["reason"], row["instance"], row["finished_at"]) == (
        "ran",
        "ok",
        "A",
        t,
    )


def test_leases_are_exclusive_until_released_or_expired(context):
    from mailer.store import leases

    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    later = t + timedelta(seconds=60)
    with context.engine.begin() as conn:
        assert leases.acquire_lease(conn, "poll", holder="A", now=t, expires_at=later)
        assert not leases.acquire_lease(conn, "poll", holder="B", now=t, expires_at=later)
        assert leases.acquire_lease(conn, "poll", holder="A", now=t, expires_at=later)
        assert not leases.renew_lease(conn, "poll", holder="B", expires_at=later)
        assert leases.get_lease(conn, "poll")["holder"] == "A"
        # Expired: anyone may take it.
        assert leases.acquire_lease(
            conn, "poll", holder="B", now=later, expires_at=later + timedelta(seconds=60)
        )
        assert not leases.release_lease(conn, "poll", holder="A")
        assert leases.release_lease(conn, "poll", holder="B")
        assert leases.get_lease(conn, "poll") is None


async def test_a_held_lease_is_renewed_while_the_work_runs(make_settings, database_url):
    import asyncio

    from mailer.bootstrap import build_context
    from mailer.schedules.leases import held_lease
    from mailer.store import leases

    context = build_context(make_settings(database_url=database_url))
    clock = lambda: datetime.now(UTC)  # noqa: E731
    try:
        async with held_lease(context, "poll", holder="A", clock=clock, seconds=0.3):
            # Longer than the lease itself: only renewal keeps B out.
            for _ in range(3):
                await asyncio.sleep(0.25)
                with pytest.raises(LeaseTaken, match="held by A until"):
                    async with held_lease(context, "poll", holder="B", clock=clock):
                        pass
        with context.engine.connect() as conn:
            assert leases.get_lease(conn, "poll") is None
        async with held_lease(context, "poll", holder="B", clock=clock):
            pass
    finally:
        context.close()


def test_heartbeats_refresh_prune_and_remove(context):
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with context.engine.begin() as conn:
        for instance, seen in [("a", t), ("b", t - timedelta(days=8))]:
            heartbeat_store.record_heartbeat(
                conn, instance, role="scheduler", host="h", pid=1, started_at=seen, now=seen
            )
        heartbeat_store.record_heartbeat(
            conn, "a", role="scheduler", host="h", pid=1, started_at=t, now=t + timedelta(seconds=5)
        )
        assert heartbeat_store.latest_heartbeat(conn, role="scheduler")["seen_at"] == t + timedelta(
            seconds=5
        )
        assert heartbeat_store.prune_heartbeats(conn, before=t - timedelta(days=7)) == 1
        heartbeat_store.remove_heartbeat(conn, "a")
        assert heartbeat_store.latest_heartbeat(conn, role="scheduler") is None

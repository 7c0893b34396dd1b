"""Fire-time rules: fire times in a window, missed ones after downtime, run or skip, wording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from mailer.schedules.crontab import cron_trigger
from mailer.schedules.fire_times import (
    decide,
    describe_seconds,
    fire_times_between,
    latest_fire_time,
    missed_fire_times,
)

SEOUL = ZoneInfo("Asia/Seoul")


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

"""Cron expressions and time zones: refused saying what is wrong, accepted ones fire as crontab says."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mailer.errors import InvalidInputError
from mailer.schedules.crontab import cron_trigger
from mailer.schedules.fire_times import next_fire_times

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

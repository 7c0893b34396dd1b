"""The date reader on its own: every style it reads, and the reasons it gives for the rest."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mailer.feeds.dates import UnreadableDate, read_date

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        (
            "2004-05-25 오후 11:23:17",
            NEW_YORK,
            "2004-05-25T14:23:17",
        ),  # Korean: Seoul whatever the zone
        ("2004년 05월 28일 01:31:15", NEW_YORK, "2004-05-27T16:31:15"),
        ("2004년 5월 28일 (금) 오후 3:05", SEOUL, "2004-05-28T06:05:00"),
        ("2004-05-28 금요일 09:00", SEOUL, "2004-05-28T00:00:00"),
        ("2004.05.28 01:31", SEOUL, "2004-05-27T16:31:00"),
        ("2004.05.28 01:31", NEW_YORK, "2004-05-28T05:31:00"),  # not Korean: the configured zone
        ("2004/05/28", SEOUL, "2004-05-27T15:00:00"),
        ("2021-09-06T12:00:00.123+09:00", NEW_YORK, "2021-09-06T03:00:00"),
        ("2021-09-06T24:00:00Z", SEOUL, "2021-09-07T00:00:00"),
        ("2021-09-06 11:59:60 UTC", SEOUL, "2021-09-06T11:59:59"),  # a leap second
        ("Mon, 06 Sep 21 12:00 GMT", SEOUL, "2021-09-06T12:00:00"),
        ("6 Sep 1999 12:00 +0000", SEOUL, "1999-09-06T12:00:00"),
        ("Monday, 06-Sep-2021 12:00:00 PDT", SEOUL, "2021-09-06T19:00:00"),
        ("Sun Jul 15 01:16:00 +0000 2012", SEOUL, "2012-07-15T01:16:00"),
        ("Sun Jul 15 01:16:00 2012", SEOUL, "2012-07-14T16:16:00"),
        ("2021-09-06 12:00 PM", SEOUL, "2021-09-06T03:00:00"),
        ("2021-09-06 12:00 a.m. UTC+09:00", NEW_YORK, "2021-09-05T15:00:00"),
    ],
)
def test_dates_are_read_in_the_zone_they_were_written_in(text, zone, expected):
    assert read_date(text, zone=zone) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("9999-12-31T23:59:59-99:99", "impossible UTC offset -99:99"),
        ("9999-12-31T23:59:59-09:00", "out of the range of dates that can be stored"),
        ("0001-01-01T00:00:00+09:00", "out of the range of dates that can be stored"),
        ("2026-02-30 10:00", "no real date (day is out of range for month)"),
        ("2026-13-01", "no real date (month must be in 1..12)"),
        ("2026-01-01 25:00", "no real date (hour must be in 0..23)"),
        ("Mon, 06 Sep 2021 12:00 IST", "names a time zone this program does not know"),
        ("2021-09-06 12:00 Mars/Olympus", "names a time zone this program does not know"),
        ("2021-09-06 12:00 ../../etc/passwd", "names a time zone this program does not know"),
        ("어제 오후", "in no date format this program reads"),
        ("   ", "the date is empty"),
    ],
)
def test_unreadable_dates_say_why(text, reason):
    with pytest.raises(UnreadableDate, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read_date(text, zone=SEOUL)


def test_other_styles_fall_back_to_feedparsers_reading():
    # A style read by feedparser only (its Greek handler): its UTC tuple is taken as is.
    parsed = time.strptime("2004-07-08 23:56:58", "%Y-%m-%d %H:%M:%S")
    assert read_date("Κυρ, 11 Ιούλ 2004 12:00:00 EST", zone=SEOUL, parsed=parsed) == datetime(
        2004, 7, 8, 23, 56, 58, tzinfo=UTC
    )
    year_10000 = (10000, 1, 5, 4, 38, 59, 2, 5, 0)
    with pytest.raises(UnreadableDate, match="no date that can be stored"):
        read_date("Κυρ, 11 Ιούλ 9999 12:00:00 EST", zone=SEOUL, parsed=year_10000)

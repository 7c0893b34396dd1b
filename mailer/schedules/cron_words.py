"""Crontab expressions in words staff read ("매주 월요일 오전 9:00"), and back from days and a time.

Staff are not programmers (issue 12 item 6): the schedules they see are said in
Korean (or English) words, and they edit them by choosing days and a time; the
cron expression stays as the advanced field. :func:`describe_cron` covers the
shapes a newsletter uses — every N minutes or hours, daily, weekly on some days,
monthly on a day — and answers ``None`` for any other expression, which callers
show as the expression itself. :func:`cron_for` builds the expression from a
choice; it is validated by :func:`mailer.schedules.crontab.cron_trigger` like any
typed one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from mailer.errors import InvalidInputError

Language = Literal["ko", "en"]

#: The days of week as crontab names them, Monday first (the order they are said in).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_KO_DAYS = dict(zip(WEEKDAYS, "월화수목금토일", strict=True))
_EN_DAYS = dict(
    zip(
        WEEKDAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
_NUMBER = re.compile(r"\d{1,2}")
_EVERY = re.compile(r"\*/(\d{1,2})")


def describe_cron(cron: str, /, *, language: Language = "ko") -> str | None:
    """``cron`` in words, or None when it is not one of the shapes said in words."""
    fields = cron.split()
    if len(fields) != 5:
        return None
    minute, hour, day, month, weekday = (field.lower() for field in fields)
    if month != "*":
        return None
    if day == "*" and weekday == "*":
        return _repeating(minute, hour, language)
    if not (_NUMBER.fullmatch(minute) and _NUMBER.fullmatch(hour)):
        return None
    time = _clock(int(hour), int(minute), language)
    if time is None:
        return None
    if day == "*":
        days = weekdays_of(weekday)
        if days is None:
            return None
        return _weekly(days, time, language)
    if weekday == "*" and _NUMBER.fullmatch(day) and 1 <= int(day) <= 31:
        return (
            f"매월 {int(day)}일 {time}"
            if language == "ko"
            else f"Monthly on day {int(day)} at {time}"
        )
    return None


def with_zone(description: str, timezone: str, /) -> str:
    """The description followed by its time zone: "매주 월요일 오전 9:00 (Asia/Seoul)"."""
    return f"{description} ({timezone})"


def cron_for(days: Iterable[str], *, hour: int, minute: int) -> str:
    """The crontab expression that fires on ``days`` (crontab names; none = every day) at hour:minute."""
    if not (0 <= hour <= 23):
        raise InvalidInputError("the hour must be between 0 and 23", field="hour")
    if not (0 <= minute <= 59):
        raise InvalidInputError("the minute must be between 0 and 59", field="minute")
    chosen = {day.strip().lower()[:3] for day in days if day.strip()}
    unknown = chosen - set(WEEKDAYS)
    if unknown:
        raise InvalidInputError(
            f"unknown day of week {sorted(unknown)[0]!r}: use mon, tue, wed, thu, fri, sat or sun",
            field="days",
        )
    if not chosen or chosen == set(WEEKDAYS):
        weekday = "*"
    else:
        weekday = ",".join(day for day in WEEKDAYS if day in chosen)
    return f"{minute} {hour} * * {weekday}"


def weekdays_of(field: str, /) -> tuple[str, ...] | None:
    """The days a day-of-week field names (lists and ranges of names), Monday first; None if unread."""
    days: set[str] = set()
    for part in field.lower().split(","):
        start, dash, end = part.partition("-")
        if start not in WEEKDAYS or (dash and end not in WEEKDAYS):
            return None
        first, last = WEEKDAYS.index(start), WEEKDAYS.index(end if dash else start)
        if last < first:  # "sat-mon" wraps over Sunday
            days.update(WEEKDAYS[first:], WEEKDAYS[: last + 1])
        else:
            days.update(WEEKDAYS[first : last + 1])
    return tuple(day for day in WEEKDAYS if day in days)


def _weekly(days: tuple[str, ...], time: str, language: Language) -> str:
    if language == "en":
        if set(days) == set(WEEKDAYS):
            return f"Every day at {time}"
        if days == WEEKDAYS[:5]:
            return f"Every weekday (Monday–Friday) at {time}"
        names = [_EN_DAYS[day] for day in days]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return f"Every {listed} at {time}"
    if set(days) == set(WEEKDAYS):
        return f"매일 {time}"
    if days == WEEKDAYS[:5]:
        return f"평일(월~금) {time}"
    return f"매주 {'·'.join(_KO_DAYS[day] for day in days)}요일 {time}"


def _repeating(minute: str, hour: str, language: Language) -> str | None:
    """Every-day shapes: "*/30 * …", "0 */2 …", "15 * …", "30 9 …"."""
    every_minutes = _EVERY.fullmatch(minute)
    if every_minutes and hour == "*":
        step = int(every_minutes.group(1))
        return f"{step}분마다" if language == "ko" else f"Every {step} minutes"
    if minute == "*" and hour == "*":
        return "1분마다" if language == "ko" else "Every minute"
    if not _NUMBER.fullmatch(minute) or int(minute) > 59:
        return None
    at = int(minute)
    every_hours = _EVERY.fullmatch(hour)
    if every_hours:
        step = int(every_hours.group(1))
        if language == "en":
            return f"Every {step} hours at {at:02d} minutes past"
        return f"{step}시간마다 {at}분" if at else f"{step}시간마다 정각"
    if hour == "*":
        if language == "en":
            return f"Every hour at {at:02d} minutes past"
        return f"매시 {at}분" if at else "매시 정각"
    if _NUMBER.fullmatch(hour):
        time = _clock(int(hour), at, language)
        if time is not None:
            return f"매일 {time}" if language == "ko" else f"Every day at {time}"
    return None


def _clock(hour: int, minute: int, language: Language) -> str | None:
    """09:30 as "오전 9:30" (12-hour, as Korean clocks say it) or "09:30"; None if no time."""
    if hour > 23 or minute > 59:
        return None
    if language == "en":
        return f"{hour:02d}:{minute:02d}"
    half = "오전" if hour < 12 else "오후"
    return f"{half} {hour % 12 or 12}:{minute:02d}"

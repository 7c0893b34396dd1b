"""Crontab expressions: parse a schedule's 5-field cron and time zone into an APScheduler trigger.

An adapter over APScheduler 3's CronTrigger: the one place a schedule's text becomes a
trigger, for validating edits, listing next run times, deciding fire times and running
them. Errors say what is wrong in words staff can act on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from mailer.errors import InvalidInputError

#: The five crontab fields in order, as APScheduler's CronTrigger names them.
CRON_FIELDS = (
    ("minute", "minute"),
    ("hour", "hour"),
    ("day of month", "day"),
    ("month", "month"),
    ("day of week", "day_of_week"),
)


def check_timezone(name: str, /) -> ZoneInfo:
    """The IANA zone called ``name``, or InvalidInputError saying what a valid name looks like."""
    cleaned = name.strip()
    try:
        if not cleaned:
            raise ValueError
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"unknown time zone {name!r}: use an IANA time zone name such as Asia/Seoul or UTC",
            field="timezone",
        ) from None


def normalise_cron(cron: str, /) -> str:
    return " ".join(cron.split())


def cron_trigger(cron: str, timezone: str, /) -> CronTrigger:
    """Parse a 5-field crontab expression with APScheduler; InvalidInputError says what is wrong."""
    zone = check_timezone(timezone)
    expression = normalise_cron(cron)
    fields = expression.split(" ") if expression else []
    if len(fields) != 5:
        raise InvalidInputError(
            f"invalid cron expression {cron!r}: it has {len(fields)} field(s), expected 5 — "
            "minute hour day-of-month month day-of-week, e.g. '0 9 * * mon' "
            "(Mondays 09:00) or '*/30 * * * *' (every 30 minutes)",
            field="cron",
        )
    for (label, name), value in zip(CRON_FIELDS, fields, strict=True):
        if name == "day_of_week" and re.search(r"\d", value):
            # APScheduler 3 counts weekdays from 0 = Monday while crontab counts from
            # 0 = Sunday (APScheduler issue #286), so "1" would silently mean Tuesday.
            raise InvalidInputError(
                f"invalid cron expression {cron!r}: write the day of week with names "
                f"(mon, tue, wed, thu, fri, sat, sun; ranges like mon-fri), not {value!r} — "
                "weekday numbers mean different days in different cron dialects",
                field="cron",
            )
        try:
            CronTrigger(**{name: value}, timezone=zone)
        except ValueError as exc:
            detail = re.sub(r"^Error validating expression '[^']*': ", "", str(exc))
            raise InvalidInputError(
                f"invalid cron expression {cron!r}: {label} field {value!r}: {detail}",
                field="cron",
            ) from None
    trigger = CronTrigger.from_crontab(expression, timezone=zone)
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise InvalidInputError(
            f"invalid cron expression {cron!r}: it never fires (no such date)", field="cron"
        )
    return trigger


def trigger_for(schedule: dict, /) -> CronTrigger:
    """The trigger of a schedule row (InvalidInputError if the row was stored broken)."""
    return cron_trigger(schedule["cron"], schedule["timezone"])

"""When a schedule fires: next run times, fire times missed while no scheduler ran, run or skip.

Pure functions of a schedule row, its trigger and "now" — no database, no clock of
their own — shared by the schedule views staff see and the running scheduler:
which fire times a schedule has, which of them nobody handled, and whether a due
fire time runs or is skipped (with the reason that is recorded, so nothing is
skipped silently).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailer.errors import InvalidInputError
from mailer.schedules.crontab import trigger_for

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

#: Catch-up records at most this many missed fire times one by one; older ones get one summary row.
MISSED_RECORD_LIMIT = 500

_ONE_MICROSECOND = timedelta(microseconds=1)


# ---------------------------------------------------------------------------- fire times


def next_fire_times(trigger: CronTrigger, /, *, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after``, in the trigger's time zone."""
    times: list[datetime] = []
    fire = trigger.get_next_fire_time(None, after + _ONE_MICROSECOND)
    while fire is not None and len(times) < count:
        times.append(fire)
        fire = trigger.get_next_fire_time(fire, fire)
    return times


def first_fire_time_after(trigger: CronTrigger, after: datetime, /) -> datetime | None:
    found = next_fire_times(trigger, after=after, count=1)
    return found[0] if found else None


def is_fire_time(trigger: CronTrigger, moment: datetime, /) -> bool:
    return trigger.get_next_fire_time(None, moment) == moment


def fire_times_between(
    trigger: CronTrigger, /, *, after: datetime, until: datetime, limit: int
) -> tuple[list[datetime], bool]:
    """Fire times in (after, until], at most ``limit``; the flag says whether more were left out."""
    times: list[datetime] = []
    fire = trigger.get_next_fire_time(None, after + _ONE_MICROSECOND)
    while fire is not None and fire <= until:
        if len(times) == limit:
            return times, True
        times.append(fire)
        fire = trigger.get_next_fire_time(fire, fire)
    return times, False


def latest_fire_time(trigger: CronTrigger, /, *, until: datetime) -> datetime | None:
    """The newest fire time at or before ``until``, found without walking from the distant past.

    CronTrigger only looks forward, so look back over a window that doubles until it
    holds a fire time: a few steps for any schedule, however long the gap before.
    """
    window = timedelta(minutes=1)
    for _ in range(40):  # 2**40 minutes: far beyond any cron period
        times, _more = fire_times_between(trigger, after=until - window, until=until, limit=100_000)
        if times:
            return times[-1]
        window *= 2
    return None


@dataclass(frozen=True)
class MissedFireTimes:
    """Fire times a schedule had while no scheduler ran, as found at start-up.

    When there were more than MISSED_RECORD_LIMIT, ``times`` holds only the latest one
    and ``summary_from`` is the earliest: one record then stands for all those before.
    """

    times: list[datetime]
    summary_from: datetime | None = None


def missed_fire_times(
    schedule: dict, /, *, last_recorded: datetime | None, now: datetime
) -> MissedFireTimes:
    """Fire times in (max(last recorded run, last edit), now] — the ones nobody handled."""
    trigger = trigger_for(schedule)
    since = schedule["updated_at"]
    if last_recorded is not None and last_recorded > since:
        since = last_recorded
    times, more = fire_times_between(trigger, after=since, until=now, limit=MISSED_RECORD_LIMIT)
    if not more:
        return MissedFireTimes(times)
    latest = latest_fire_time(trigger, until=now)
    assert latest is not None and latest > times[-1]
    return MissedFireTimes([latest], summary_from=times[0])


# ---------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Decision:
    """Whether one fire time of a schedule runs; when not, the reason that is recorded."""

    fire_time: datetime
    run: bool
    reason: str | None = None


def decide(
    schedule: dict | None, fire_times: list[datetime], /, *, now: datetime, cause: str
) -> list[Decision]:
    """Run only the latest of several due fire times, and only within the schedule's grace.

    ``cause`` says how the times came to be due at once ("missed while no scheduler ran");
    it starts the reason recorded for each skipped time, so nothing is skipped silently.
    """
    ordered = sorted(set(fire_times))
    if not ordered:
        return []
    latest = ordered[-1]
    decisions = [
        Decision(
            moment,
            False,
            f"{cause}; superseded by the later fire time "
            f"{format_local(latest, zone_or_utc(schedule['timezone'] if schedule else 'UTC'))} "
            "(only the latest due fire time runs)",
        )
        for moment in ordered[:-1]
    ]
    decisions.append(_decide_latest(schedule, latest, now=now, cause=cause))
    return decisions


def _decide_latest(
    schedule: dict | None, moment: datetime, *, now: datetime, cause: str
) -> Decision:
    if schedule is None:
        return Decision(moment, False, "the schedule was deleted")
    if not schedule["enabled"]:
        return Decision(moment, False, "the schedule was paused before this fire time")
    try:
        trigger = trigger_for(schedule)
    except InvalidInputError as exc:
        return Decision(moment, False, f"the schedule is invalid: {exc}")
    if not is_fire_time(trigger, moment):
        return Decision(
            moment,
            False,
            f"not a fire time of the schedule any more (now {schedule['cron']!r} "
            f"in {schedule['timezone']})",
        )
    late = (now - moment).total_seconds()
    grace = schedule["grace_seconds"]
    if late > grace:
        return Decision(
            moment,
            False,
            f"{cause}: {describe_seconds(late)} late, beyond the schedule's grace of "
            f"{describe_seconds(grace)}",
        )
    return Decision(moment, True)


# ---------------------------------------------------------------------------- wording


def zone_or_utc(name: str, /) -> ZoneInfo:
    """The zone called ``name``; UTC for a name stored broken (the row says what is wrong)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_local(moment: datetime, zone: ZoneInfo, /) -> str:
    """``Mon 2026-11-30 09:00 KST``: how a fire time is shown to staff."""
    return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def describe_seconds(seconds: float, /) -> str:
    """A duration for people: ``45 s``, ``7 min``, ``6 h``, ``7 h 2 min``, ``3 d 4 h``."""
    total = int(round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {secs} s" if secs else "")
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")

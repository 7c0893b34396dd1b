"""Schedule use cases: validate and edit schedules, list them with next run times, decide fire times.

The ``schedules`` table is the source of truth (issue 6); these functions are what the
command line, the admin pages and the running scheduler share: what a valid cron
expression is, which fire times a schedule has, whether a given fire time should run
or be skipped (and why), and whether any scheduler is alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from mailer.errors import InvalidInputError, NotFoundError
from mailer.schedules.crontab import (  # noqa: F401 — part of this module's interface
    CRON_FIELDS,
    check_timezone,
    cron_trigger,
    normalise_cron,
    trigger_for,
)
from mailer.store import heartbeats as heartbeat_store
from mailer.store import schedules as store

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext

#: The heartbeat role every scheduler process records (mailer serve and mailer scheduler).
SCHEDULER_ROLE = "scheduler"

#: Catch-up records at most this many missed fire times one by one; older ones get one summary row.
MISSED_RECORD_LIMIT = 500

_ONE_MICROSECOND = timedelta(microseconds=1)


# ---------------------------------------------------------------------------- validation


def check_grace(seconds: int, /) -> int:
    if seconds < 0:
        raise InvalidInputError("grace must be 0 or more seconds", field="grace_seconds")
    return seconds


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
            f"{format_local(latest, _zone(schedule['timezone'] if schedule else 'UTC'))} "
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


# ---------------------------------------------------------------------------- editing


@dataclass(frozen=True)
class ScheduleView:
    """A schedule as staff see it: its settings, its next run times (local time), its last run."""

    name: str
    kind: str
    cron: str
    timezone: str
    enabled: bool
    grace_seconds: int
    updated_at: datetime
    next_runs: tuple[datetime, ...]
    last_run: dict | None
    problem: str | None = None

    @property
    def state(self) -> str:
        if self.problem:
            return "invalid"
        return "enabled" if self.enabled else "paused"

    def as_json(self) -> dict[str, object]:
        last = self.last_run
        return {
            "name": self.name,
            "kind": self.kind,
            "cron": self.cron,
            "timezone": self.timezone,
            "state": self.state,
            "grace_seconds": self.grace_seconds,
            "next_runs": [moment.isoformat() for moment in self.next_runs],
            "last_run": None
            if last is None
            else {
                "fire_time": last["fire_time"].astimezone(_zone(self.timezone)).isoformat(),
                "outcome": last["outcome"],
                "reason": last["reason"],
            },
            "problem": self.problem,
        }


def _view(schedule: dict, last_run: dict | None, *, now: datetime, count: int) -> ScheduleView:
    problem = None
    next_runs: tuple[datetime, ...] = ()
    try:
        trigger = trigger_for(schedule)
    except InvalidInputError as exc:
        problem = str(exc)
    else:
        if schedule["enabled"]:
            next_runs = tuple(next_fire_times(trigger, after=now, count=count))
    return ScheduleView(
        name=schedule["name"],
        kind=schedule["kind"],
        cron=schedule["cron"],
        timezone=schedule["timezone"],
        enabled=schedule["enabled"],
        grace_seconds=schedule["grace_seconds"],
        updated_at=schedule["updated_at"],
        next_runs=next_runs,
        last_run=last_run,
        problem=problem,
    )


def list_schedule_views(
    ctx: AppContext, /, *, now: datetime | None = None, count: int = 3
) -> list[ScheduleView]:
    """Every schedule with its next ``count`` run times (in its own time zone) and last run."""
    now = now or datetime.now(UTC)
    with ctx.engine.connect() as conn:
        rows = store.list_schedules(conn)
        last = store.latest_runs(conn)
    return [_view(row, last.get(row["name"]), now=now, count=count) for row in rows]


def get_schedule_view(
    ctx: AppContext, name: str, /, *, now: datetime | None = None, count: int = 3
) -> ScheduleView:
    now = now or datetime.now(UTC)
    with ctx.engine.connect() as conn:
        row = store.get_schedule(conn, name)
        last = store.latest_runs(conn).get(name)
    if row is None:
        raise NotFoundError("schedule", name)
    return _view(row, last, now=now, count=count)


def set_schedule(
    ctx: AppContext,
    name: str,
    cron: str,
    /,
    *,
    timezone: str | None = None,
    grace_seconds: int | None = None,
    now: datetime | None = None,
) -> ScheduleView:
    """Give a schedule a new cron expression (and optionally time zone and grace)."""
    now = now or datetime.now(UTC)
    with ctx.engine.begin() as conn:
        current = store.get_schedule(conn, name)
        if current is None:
            raise NotFoundError("schedule", name)
        zone_name = timezone.strip() if timezone is not None else current["timezone"]
        cron_trigger(cron, zone_name)
        changes: dict[str, object] = {"cron": normalise_cron(cron), "timezone": zone_name}
        if grace_seconds is not None:
            changes["grace_seconds"] = check_grace(grace_seconds)
        store.update_schedule(conn, name, now=now, **changes)
    return get_schedule_view(ctx, name, now=now)


def pause_schedule(ctx: AppContext, name: str, /, *, now: datetime | None = None) -> ScheduleView:
    """Stop a schedule from firing until it is resumed."""
    return _set_enabled(ctx, name, False, now=now or datetime.now(UTC))


def resume_schedule(ctx: AppContext, name: str, /, *, now: datetime | None = None) -> ScheduleView:
    """Let a paused schedule fire again; fire times while it was paused are not caught up."""
    return _set_enabled(ctx, name, True, now=now or datetime.now(UTC))


def _set_enabled(ctx: AppContext, name: str, enabled: bool, *, now: datetime) -> ScheduleView:
    with ctx.engine.begin() as conn:
        current = store.get_schedule(conn, name)
        if current is None:
            raise NotFoundError("schedule", name)
        if current["enabled"] != enabled:
            # Stamping updated_at on resume is what keeps catch-up from running fire
            # times that fell inside the pause.
            store.update_schedule(conn, name, now=now, enabled=enabled)
    return get_schedule_view(ctx, name, now=now)


# ---------------------------------------------------------------------------- liveness


@dataclass(frozen=True)
class SchedulerLiveness:
    """Whether some scheduler process recorded a heartbeat within ``stale_after`` seconds."""

    alive: bool
    message: str
    last_seen: datetime | None
    running: int


def scheduler_liveness(ctx: AppContext, /, *, now: datetime | None = None) -> SchedulerLiveness:
    now = now or datetime.now(UTC)
    stale_after = ctx.settings.scheduler.stale_after
    since = now - timedelta(seconds=stale_after)
    with ctx.engine.connect() as conn:
        live = heartbeat_store.live_heartbeats(conn, role=SCHEDULER_ROLE, since=since)
        last = heartbeat_store.latest_heartbeat(conn, role=SCHEDULER_ROLE)
    hint = "so no schedule fires — start `mailer serve` or `mailer scheduler`"
    if live:
        newest = max(row["seen_at"] for row in live)
        return SchedulerLiveness(
            True,
            f"{len(live)} scheduler(s) running, last heartbeat "
            f"{describe_seconds((now - newest).total_seconds())} ago",
            newest,
            len(live),
        )
    if last is None:
        return SchedulerLiveness(False, f"no scheduler is running, {hint}", None, 0)
    silent = describe_seconds((now - last["seen_at"]).total_seconds())
    return SchedulerLiveness(
        False,
        f"no scheduler heartbeat for {silent} (last: {last['host']} pid {last['pid']} at "
        f"{last['seen_at']:%Y-%m-%d %H:%M:%S} UTC), {hint}",
        last["seen_at"],
        0,
    )


# ---------------------------------------------------------------------------- formatting


def _zone(name: str) -> ZoneInfo:
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

"""Schedule use cases: list schedules with their next run times, change their cron, pause, resume.

The ``schedules`` table is the source of truth (issue 6); the command line and the
admin pages change it only through these functions, which validate what staff type
(:mod:`mailer.schedules.crontab`) and stamp every change, so a running scheduler
picks it up and catch-up never runs a fire time from before the edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from mailer.errors import ConfigError, InvalidInputError, NotFoundError
from mailer.roles import require
from mailer.schedules.cron_words import describe_cron, with_zone
from mailer.schedules.crontab import cron_trigger, normalise_cron, trigger_for
from mailer.schedules.fire_times import next_fire_times, zone_or_utc
from mailer.store import schedules as store
from mailer.store.db import write_transaction
from mailer.store.staff_sessions import append_audit

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


class Operator(Protocol):
    """Who changes a schedule: a staff session (``email``, ``role``) or the command line."""

    email: str
    role: str


@dataclass(frozen=True)
class CommandLine:
    """The ``mailer schedules`` commands: whoever runs them owns the install (no role to check).

    Their changes are audited like a staff member's, with the actor ``cli``.
    """

    email: str = "cli"
    role: str = "admin"


COMMAND_LINE = CommandLine()


def check_grace(seconds: int, /) -> int:
    if seconds < 0:
        raise InvalidInputError("grace must be 0 or more seconds", field="grace_seconds")
    return seconds


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

    def described(self, *, language: str = "ko") -> str:
        """When it runs, in words with its zone ("매주 월요일 오전 9:00 (Asia/Seoul)"); else its cron."""
        words = describe_cron(self.cron, language="en" if language == "en" else "ko")
        return with_zone(words or self.cron, self.timezone)

    def as_json(self) -> dict[str, object]:
        last = self.last_run
        return {
            "name": self.name,
            "kind": self.kind,
            "cron": self.cron,
            "description": self.described(),
            "timezone": self.timezone,
            "state": self.state,
            "grace_seconds": self.grace_seconds,
            "next_runs": [moment.isoformat() for moment in self.next_runs],
            "last_run": None
            if last is None
            else {
                "fire_time": last["fire_time"].astimezone(zone_or_utc(self.timezone)).isoformat(),
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


def next_fire_time(ctx: AppContext, name: str, /, *, now: datetime) -> datetime:
    """When schedule ``name`` fires next (at or after ``now``, in UTC); ``now`` itself if
    there is no such schedule — what a preview of its next edition is dated."""
    with ctx.engine.connect() as conn:
        row = store.get_schedule(conn, name)
    if row is None:
        return now
    try:
        trigger = trigger_for(row)
    except InvalidInputError as exc:
        raise ConfigError(f"schedule {name}: {exc}") from exc
    fire = trigger.get_next_fire_time(None, now)
    return fire.astimezone(UTC) if fire else now


def set_schedule(
    ctx: AppContext,
    name: str,
    cron: str,
    /,
    *,
    timezone: str | None = None,
    grace_seconds: int | None = None,
    now: datetime | None = None,
    account: Operator = COMMAND_LINE,
    client: str | None = None,
) -> ScheduleView:
    """Give a schedule a new cron expression (and optionally time zone and grace).

    ``account`` needs ``edit_schedules``; the change and its ``schedule.change`` audit
    row (cron, time zone and grace before and after) are one transaction.
    """
    require(account, "edit_schedules")
    now = now or datetime.now(UTC)
    with write_transaction(ctx.engine) as conn:
        current = store.get_schedule(conn, name)
        if current is None:
            raise NotFoundError("schedule", name)
        zone_name = timezone.strip() if timezone is not None else current["timezone"]
        cron_trigger(cron, zone_name)
        changes: dict[str, object] = {"cron": normalise_cron(cron), "timezone": zone_name}
        if grace_seconds is not None:
            changes["grace_seconds"] = check_grace(grace_seconds)
        store.update_schedule(conn, name, now=now, **changes)
        _audit(conn, "schedule.change", name, account, client, now, current, {**current, **changes})
    return get_schedule_view(ctx, name, now=now)


def next_runs(
    ctx: AppContext, name: str, /, *, count: int = 5, now: datetime | None = None
) -> tuple[datetime, ...]:
    """The next ``count`` fire times of schedule ``name``, in its own time zone (none while paused)."""
    return get_schedule_view(ctx, name, now=now, count=count).next_runs


def _settings(row: dict) -> dict[str, object]:
    return {key: row[key] for key in ("cron", "timezone", "grace_seconds", "enabled")}


def _audit(conn, action, name, account, client, now, before: dict, after: dict) -> None:
    append_audit(
        conn,
        at=now,
        actor=account.email,
        action=action,
        client_address=client,
        target=f"schedule {name}",
        detail={"before": _settings(before), "after": _settings(after)},
    )


def pause_schedule(
    ctx: AppContext,
    name: str,
    /,
    *,
    now: datetime | None = None,
    account: Operator = COMMAND_LINE,
    client: str | None = None,
) -> ScheduleView:
    """Stop a schedule from firing until it is resumed (``edit_schedules``; audited ``schedule.pause``)."""
    return _set_enabled(ctx, name, False, now=now, account=account, client=client)


def resume_schedule(
    ctx: AppContext,
    name: str,
    /,
    *,
    now: datetime | None = None,
    account: Operator = COMMAND_LINE,
    client: str | None = None,
) -> ScheduleView:
    """Let a paused schedule fire again; fire times while it was paused are not caught up."""
    return _set_enabled(ctx, name, True, now=now, account=account, client=client)


def _set_enabled(
    ctx: AppContext,
    name: str,
    enabled: bool,
    *,
    now: datetime | None,
    account: Operator,
    client: str | None,
) -> ScheduleView:
    require(account, "edit_schedules")
    now = now or datetime.now(UTC)
    with write_transaction(ctx.engine) as conn:
        current = store.get_schedule(conn, name)
        if current is None:
            raise NotFoundError("schedule", name)
        if current["enabled"] != enabled:
            # Stamping updated_at on resume is what keeps catch-up from running fire
            # times that fell inside the pause.
            store.update_schedule(conn, name, now=now, enabled=enabled)
            action = "schedule.resume" if enabled else "schedule.pause"
            _audit(
                conn, action, name, account, client, now, current, {**current, "enabled": enabled}
            )
    return get_schedule_view(ctx, name, now=now)

"""Schedule rows and their runs: the source of truth the scheduler reads and the record it writes.

A run row is keyed by (schedule, fire time). The scheduler claims a fire time by
inserting its row (outcome ``running``) before it does anything, so whichever process
inserts first is the only one that runs it (issue 6, "exactly once").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from mailer.store.tables import heartbeats, schedule_runs, schedules
from mailer.store.upsert import insert_unless_exists

#: Outcomes of a run row. ``running`` is a claim whose job has not finished (yet).
RUNNING, RAN, FAILED, SKIPPED = "running", "ran", "failed", "skipped"


def ensure_schedule(
    conn: Connection, name: str, /, *, kind: str, cron: str, timezone: str, grace_seconds: int
) -> bool:
    """Insert the schedule unless one of that name exists (staff edits win); True if inserted."""
    if conn.execute(select(schedules.c.id).where(schedules.c.name == name)).first():
        return False
    conn.execute(
        insert(schedules).values(
            name=name,
            kind=kind,
            cron=cron,
            timezone=timezone,
            enabled=True,
            grace_seconds=grace_seconds,
            updated_at=datetime.now(UTC),
        )
    )
    return True


def list_schedules(conn: Connection) -> list[dict]:
    rows = conn.execute(select(schedules).order_by(schedules.c.name)).mappings()
    return [dict(row) for row in rows]


def get_schedule(conn: Connection, name: str, /) -> dict | None:
    row = conn.execute(select(schedules).where(schedules.c.name == name)).mappings().first()
    return dict(row) if row else None


def update_schedule(conn: Connection, name: str, /, *, now: datetime, **changes: Any) -> bool:
    """Change cron, timezone, enabled or grace_seconds and stamp updated_at; False if no such name."""
    allowed = {"cron", "timezone", "enabled", "grace_seconds"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"not a schedule field: {', '.join(sorted(unknown))}")
    result = conn.execute(
        update(schedules).where(schedules.c.name == name).values(**changes, updated_at=now)
    )
    return result.rowcount == 1


def claim_run(
    conn: Connection, name: str, fire_time: datetime, /, *, instance: str, now: datetime
) -> bool:
    """Claim one fire time for this scheduler; False when another one recorded it first."""
    return insert_unless_exists(
        conn,
        schedule_runs,
        schedule=name,
        fire_time=fire_time,
        outcome=RUNNING,
        reason=None,
        at=now,
        instance=instance,
    )


def record_run(
    conn: Connection,
    name: str,
    fire_time: datetime,
    /,
    *,
    outcome: str,
    reason: str,
    instance: str,
    now: datetime,
) -> bool:
    """Record a finished outcome (usually ``skipped``) for an unclaimed fire time; False if taken."""
    return insert_unless_exists(
        conn,
        schedule_runs,
        schedule=name,
        fire_time=fire_time,
        outcome=outcome,
        reason=reason,
        at=now,
        instance=instance,
        finished_at=now,
    )


def finish_run(
    conn: Connection,
    name: str,
    fire_time: datetime,
    /,
    *,
    instance: str,
    outcome: str,
    reason: str | None,
    now: datetime,
) -> bool:
    """Record how a claimed run ended.

    Matches on the claiming instance only, not on ``running``: if another scheduler
    wrongly took this run for abandoned, the real outcome still replaces its guess.
    """
    result = conn.execute(
        update(schedule_runs)
        .where(
            schedule_runs.c.schedule == name,
            schedule_runs.c.fire_time == fire_time,
            schedule_runs.c.instance == instance,
        )
        .values(outcome=outcome, reason=reason, finished_at=now)
    )
    return result.rowcount == 1


def last_fire_time(conn: Connection, name: str, /) -> datetime | None:
    """The newest fire time recorded for a schedule, whatever its outcome."""
    return conn.execute(
        select(func.max(schedule_runs.c.fire_time)).where(schedule_runs.c.schedule == name)
    ).scalar()


def latest_runs(conn: Connection) -> dict[str, dict]:
    """The newest run row of every schedule, keyed by schedule name."""
    newest = (
        select(schedule_runs.c.schedule, func.max(schedule_runs.c.fire_time).label("fire_time"))
        .group_by(schedule_runs.c.schedule)
        .subquery()
    )
    rows = conn.execute(
        select(schedule_runs).join(
            newest,
            (schedule_runs.c.schedule == newest.c.schedule)
            & (schedule_runs.c.fire_time == newest.c.fire_time),
        )
    ).mappings()
    return {row["schedule"]: dict(row) for row in rows}


def list_runs(conn: Connection, name: str | None = None, /, *, limit: int = 100) -> list[dict]:
    """Run rows, newest fire time first."""
    query = select(schedule_runs).order_by(
        schedule_runs.c.fire_time.desc(), schedule_runs.c.id.desc()
    )
    if name is not None:
        query = query.where(schedule_runs.c.schedule == name)
    return [dict(row) for row in conn.execute(query.limit(limit)).mappings()]


def fail_abandoned_runs(conn: Connection, /, *, alive_since: datetime, now: datetime) -> list[dict]:
    """Mark ``running`` claims of schedulers silent since ``alive_since`` as failed; returns them.

    Such a run was in progress when its process died. It is not retried: whether its
    side effect happened is unknown, and a duplicate digest costs more than a late one.
    """
    alive = select(heartbeats.c.instance).where(heartbeats.c.seen_at >= alive_since)
    orphans = (
        conn.execute(
            select(schedule_runs).where(
                schedule_runs.c.outcome == RUNNING,
                (schedule_runs.c.instance.is_(None)) | (schedule_runs.c.instance.not_in(alive)),
            )
        )
        .mappings()
        .all()
    )
    for row in orphans:
        conn.execute(
            update(schedule_runs)
            .where(schedule_runs.c.id == row["id"], schedule_runs.c.outcome == RUNNING)
            .values(
                outcome=FAILED,
                reason=(
                    f"interrupted: scheduler {row['instance'] or '(unknown)'} stopped "
                    "during the run; not retried automatically"
                ),
                finished_at=now,
            )
        )
    return [dict(row) for row in orphans]

"""Whether a scheduler is alive: each scheduler process beats in the heartbeats table, staff read it.

No schedule fires while no scheduler runs, and that is easy to miss; so every
scheduler process records a heartbeat every ``scheduler.heartbeat_seconds``, and
``schedules list`` and ``/healthz`` say when none has beaten for ``stale_after``. A
beat also records as failed the runs claimed by schedulers that stopped beating.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from mailer.schedules.fire_times import describe_seconds
from mailer.store import heartbeats as heartbeat_store
from mailer.store import schedules as store

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext

#: The heartbeat role every scheduler process records (mailer serve and mailer scheduler).
SCHEDULER_ROLE = "scheduler"

#: Heartbeat rows of processes silent this long are deleted.
HEARTBEAT_RETENTION = timedelta(days=7)


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


def beat(
    conn: Connection, instance: str, /, *, started_at: datetime, now: datetime, stale_after: float
) -> list[dict]:
    """Record ``instance``'s heartbeat and fail the runs of schedulers silent for ``stale_after``
    seconds; returns those runs (schedule, fire_time, instance)."""
    heartbeat_store.record_heartbeat(
        conn,
        instance,
        role=SCHEDULER_ROLE,
        host=socket.gethostname(),
        pid=os.getpid(),
        started_at=started_at,
        now=now,
    )
    heartbeat_store.prune_heartbeats(conn, before=now - HEARTBEAT_RETENTION)
    return store.fail_abandoned_runs(
        conn, alive_since=now - timedelta(seconds=stale_after), now=now
    )


def forget_heartbeat(conn: Connection, instance: str, /) -> None:
    """Remove a stopping scheduler's heartbeat (it is not stale, it is gone)."""
    heartbeat_store.remove_heartbeat(conn, instance)

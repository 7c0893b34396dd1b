"""Whether a scheduler or send worker on this host is beating: what a container's healthcheck asks.

``/healthz`` answers for the whole service; a container running ``mailer scheduler`` or
``mailer worker`` needs to know whether *its own* process is alive. Each process records
a heartbeat row with its host name, and a container has a host name of its own, so a
fresh heartbeat of the role from this host is that container's process beating.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from mailer.schedules.liveness import SCHEDULER_ROLE
from mailer.store import heartbeats as heartbeat_store
from mailer.store.workers import WORKER_ROLE

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext

Role = Literal["scheduler", "worker"]


def beating_here(ctx: AppContext, role: Role, /, *, now: datetime | None = None) -> int:
    """How many ``role`` processes on this host beat within that role's ``stale_after``."""
    now = now or datetime.now(UTC)
    if role == "scheduler":
        name, stale_after = SCHEDULER_ROLE, ctx.settings.scheduler.stale_after
    else:
        name, stale_after = WORKER_ROLE, ctx.settings.delivery.stale_after
    # Both roles record socket.gethostname(), the worker's cut to the column's 60 characters.
    host = socket.gethostname()[:60]
    since = now - timedelta(seconds=stale_after)
    with ctx.engine.connect() as conn:
        live = heartbeat_store.live_heartbeats(conn, role=name, since=since)
    return sum(1 for row in live if row["host"][:60] == host)

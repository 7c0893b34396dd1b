"""Whether this service can work: the database answers with a current schema and takes writes, and a scheduler is alive.

Read by ``/healthz``; it composes the steps' own checks (the store's schema check and
write probe in bootstrap, the schedules' liveness) into one answer.
The status is "error" when the database is unusable, and "degraded" when a probe write
cannot get the database's write lock within a short bound (pages that only read still
work; every write, a one-click unsubscribe among them, is waiting), or when no scheduler
has recorded a heartbeat within ``scheduler.stale_after``: pages can be served, but
schedules are not firing. A stale scheduler must not fail the web's own health check —
the scheduler may run in another container that waits for the web to be healthy first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mailer.bootstrap import database_write_problem, require_database
from mailer.errors import StoreError
from mailer.schedules import scheduler_liveness

if TYPE_CHECKING:
    from mailer.context import AppContext


@dataclass(frozen=True, slots=True)
class Health:
    status: Literal["ok", "degraded", "error"]
    #: One line per check ("database", "scheduler"): "ok", or what is wrong.
    checks: dict[str, str]


def health(ctx: AppContext, /) -> Health:
    """The database checks, then (only if the database is usable) the scheduler's liveness."""
    try:
        require_database(ctx)
    except StoreError as exc:
        return Health(
            "error",
            {"database": str(exc), "scheduler": "unknown: the database is not usable"},
        )
    problem = database_write_problem(ctx)
    checks = {"database": f"degraded: {problem}" if problem else "ok"}
    liveness = scheduler_liveness(ctx)
    checks["scheduler"] = "ok" if liveness.alive else f"stale: {liveness.message}"
    degraded = problem is not None or not liveness.alive
    return Health("degraded" if degraded else "ok", checks)

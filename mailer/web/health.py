"""Whether this service can work: the database, the scheduler, every send worker, paused editions and a stuck backlog.

Read by ``/healthz``; it composes the steps' own checks (the store's schema check and
write probe in bootstrap, the schedules' liveness, the system's readings in
``mailer.metrics_readings``) and the state of this process's own delivery worker into
one answer at one of three levels:

- **down** (HTTP 503): this process cannot do its job — the database is unusable
  (unreachable, not set up by ``mailer init``, another secret key), or the delivery
  worker this process runs (``mailer serve`` without ``--no-worker``) has stopped, so
  nothing it was started to send will leave until it is restarted.
- **degraded** (HTTP 200): pages are served and writes are taken, but something needs
  an operator — a probe write cannot get the database's write lock within a short
  bound; no scheduler heartbeat within ``scheduler.stale_after``; a send worker silent
  for ``delivery.stale_after``, or none running at all; an edition paused by its error
  rate; mail due for ``delivery.stuck_after`` with no send started anywhere meanwhile.
  None of these fail the web's own health, since the other processes may run in
  containers that wait for a healthy web before they start.
- **ok**: none of the above.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from mailer.bootstrap import database_write_problem, require_database
from mailer.errors import StoreError
from mailer.logs import redact
from mailer.metrics_readings import WORKER, SystemReadings, read_system
from mailer.schedules import describe_seconds, scheduler_liveness

if TYPE_CHECKING:
    from mailer.context import AppContext

Level = Literal["ok", "degraded", "down"]
#: A check's level; "unknown" when it could not be made (the database is down).
_ORDER = {"ok": 0, "unknown": 0, "degraded": 1, "down": 2}
#: The checks, in the order the answer lists them.
CHECKS = ("database", "scheduler", "workers", "paused", "backlog")


@dataclass(frozen=True, slots=True)
class OwnWorker:
    """The delivery worker task of this process (``mailer serve``), as the event loop sees it."""

    #: None while it runs; else what ended it (a crash, a cancellation, an early return).
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Health:
    status: Level
    #: One line per check (:data:`CHECKS`): "ok", or what is wrong.
    checks: dict[str, str]
    #: The checks that are not ok, with their level.
    failed: dict[str, Level] = field(default_factory=dict)
    #: Every send worker's heartbeat: instance, host, pid, age in seconds, stale.
    workers: list[dict] = field(default_factory=list)


def health(ctx: AppContext, /, *, own_worker: OwnWorker | None = None) -> Health:
    """The database checks, then (only if the database is usable) the rest; blocking."""
    results: dict[str, tuple[str, str]] = {}
    if own_worker is not None and own_worker.problem is not None:
        results["workers"] = ("down", f"down: {own_worker.problem}")
    try:
        require_database(ctx)
    except StoreError as exc:
        unknown = ("unknown", "unknown: the database is not usable")
        results = {name: unknown for name in CHECKS} | results
        results["database"] = ("down", str(exc))
        return _answer(results, [])
    problem = database_write_problem(ctx)
    results["database"] = ("degraded", f"degraded: {problem}") if problem else ("ok", "ok")
    liveness = scheduler_liveness(ctx)
    results["scheduler"] = (
        ("ok", "ok") if liveness.alive else ("degraded", f"stale: {liveness.message}")
    )
    readings = read_system(ctx)
    results.setdefault("workers", _workers(readings, own_worker))
    results["paused"] = _paused(readings)
    results["backlog"] = _backlog(readings, stuck_after=ctx.settings.delivery.stuck_after)
    workers = [
        {
            "instance": beat.instance,
            "host": beat.host,
            "pid": beat.pid,
            "heartbeat_age_seconds": round(beat.age_seconds, 1),
            "stale": beat.stale,
        }
        for beat in readings.of_role(WORKER)
    ]
    return _answer(results, workers)


def _answer(results: dict[str, tuple[str, str]], workers: list[dict]) -> Health:
    status = max((level for level, _ in results.values()), key=_ORDER.__getitem__)
    return Health(
        status,
        # /healthz is not behind a login: its lines are redacted like a log line (an
        # error or a pause reason quoting a relay reply must not show an address).
        {name: redact(results[name][1]) for name in CHECKS},
        {name: results[name][0] for name in CHECKS if _ORDER[results[name][0]]},
        workers,
    )


def _workers(readings: SystemReadings, own: OwnWorker | None) -> tuple[Level, str]:
    beats = readings.of_role(WORKER)
    silent = [beat for beat in beats if beat.stale]
    if silent:
        named = "; ".join(
            f"{beat.host} pid {beat.pid} silent for {describe_seconds(beat.age_seconds)}"
            for beat in silent
        )
        return (
            "degraded",
            f"stale: send worker {named} — its books are closed by the next worker that runs",
        )
    if own is None and not beats:
        return (
            "degraded",
            "stale: no send worker is running, so no mail leaves — start `mailer worker` "
            "or `mailer serve`",
        )
    return ("ok", "ok")


def _paused(readings: SystemReadings) -> tuple[Level, str]:
    if not readings.paused:
        return ("ok", "ok")
    # The recorded reason says why and how to continue (`mailer digest resume N`).
    lines = [
        f"edition {edition.label}: {edition.reason or 'paused; `mailer digest resume` continues it'}"
        for edition in readings.paused
    ]
    return ("degraded", "degraded: " + " | ".join(lines))


def _backlog(readings: SystemReadings, *, stuck_after: float) -> tuple[Level, str]:
    """Stuck: mail due for ``stuck_after`` and no send started anywhere within that time."""
    since = readings.overdue_since
    if not readings.overdue or since is None:
        return ("ok", "ok")
    cutoff = readings.now - timedelta(seconds=stuck_after)
    last = readings.last_attempt
    if last is not None and last > cutoff:
        return ("ok", "ok")  # a long backlog that is moving (a rate limit, a big edition)
    return (
        "degraded",
        f"degraded: {readings.overdue} messages due for up to "
        f"{describe_seconds((readings.now - since).total_seconds())} and no send started "
        f"{_since(last, readings.now)} — is a send worker running and the relay reachable?",
    )


def _since(last: datetime | None, now: datetime) -> str:
    if last is None:
        return "since they became due"
    return f"for {describe_seconds((now - last).total_seconds())} (last at {last:%H:%M:%S} UTC)"

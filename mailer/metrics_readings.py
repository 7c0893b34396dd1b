"""Read the whole system's state from the database once — for a /metrics scrape and for /healthz alike.

Everything here describes the system, not this process: deliveries by state per
edition, the queue and its backlogs, paused editions, mail overdue with no attempt,
every scheduler's and send worker's heartbeat, failing feeds. Any web process reads
the same numbers, however many ``mailer worker`` and ``mailer scheduler`` processes run
beside it. One reading transaction (``engine.connect()``): it never takes SQLite's
write lock, and callers run it off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mailer.models import DeliveryState, EditionState
from mailer.store import watch

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext

#: The media type of the text format generate_latest() writes (Prometheus text 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Editions whose deliveries /metrics shows besides the unfinished ones.
RECENT_EDITIONS = 10
#: The heartbeat role of each kind of process (mailer.schedules and mailer.store.workers).
SCHEDULER, WORKER = "scheduler", "worker"


@dataclass(frozen=True, slots=True)
class EditionReading:
    id: int
    number: int | None
    state: str
    reason: str | None
    by_state: dict[str, int]

    @property
    def label(self) -> str:
        """The edition's public number, or ``id N`` for one without a number."""
        return str(self.number) if self.number is not None else f"id {self.id}"


@dataclass(frozen=True, slots=True)
class HeartbeatReading:
    instance: str
    role: str
    host: str
    pid: int
    age_seconds: float
    #: Silent longer than its role's ``stale_after``.
    stale: bool


@dataclass(frozen=True, slots=True)
class FeedReading:
    id: int
    name: str
    failures: int


@dataclass(frozen=True, slots=True)
class SystemReadings:
    """The database's view of the whole system at ``now``."""

    now: datetime
    editions: list[EditionReading]
    #: Deliveries queued and not attempted yet, of editions being sent.
    queue_depth: int
    #: Deliveries deferred for a retry, of editions being sent or paused.
    deferred_backlog: int
    notice_backlog: dict[str, int]
    #: Deliveries and notices due for longer than ``delivery.stuck_after``.
    overdue: int
    #: When the longest-overdue of them became due.
    overdue_since: datetime | None
    #: When a worker last started sending a message (None: never, or long ago).
    last_attempt: datetime | None
    heartbeats: list[HeartbeatReading]
    feeds: list[FeedReading]
    paused: list[EditionReading] = field(default_factory=list)

    def of_role(self, role: str, /) -> list[HeartbeatReading]:
        return [beat for beat in self.heartbeats if beat.role == role]


def read_system(ctx: AppContext, /, *, now: datetime | None = None) -> SystemReadings:
    """One consistent reading of the system's state (blocking: run it off the event loop)."""
    now = now or datetime.now(UTC)
    settings = ctx.settings
    stale_after = {SCHEDULER: settings.scheduler.stale_after, WORKER: settings.delivery.stale_after}
    cutoff = now - timedelta(seconds=settings.delivery.stuck_after)
    with ctx.engine.connect() as conn:
        rows = watch.watched_editions(conn, recent=RECENT_EDITIONS)
        counts = watch.delivery_counts(conn, [row["id"] for row in rows])
        notices = watch.notice_backlog(conn)
        overdue = watch.overdue(conn, cutoff=cutoff)
        last_attempt = watch.last_attempt(conn)
        beats = watch.all_heartbeats(conn)
        feeds = watch.enabled_feeds(conn)
    editions = [
        EditionReading(row["id"], row["number"], row["state"], row["reason"], counts[row["id"]])
        for row in rows
    ]
    sending = [e for e in editions if e.state in (EditionState.QUEUED, EditionState.SENDING)]
    paused = [e for e in editions if e.state == EditionState.PAUSED]
    heartbeats = []
    for row in beats:
        age = max(0.0, (now - row["seen_at"]).total_seconds())
        limit = stale_after.get(row["role"], settings.delivery.stale_after)
        heartbeats.append(
            HeartbeatReading(
                row["instance"], row["role"], row["host"], row["pid"], age, stale=age > limit
            )
        )
    return SystemReadings(
        now=now,
        editions=editions,
        queue_depth=sum(e.by_state[DeliveryState.QUEUED] for e in sending),
        deferred_backlog=sum(e.by_state[DeliveryState.DEFERRED] for e in (*sending, *paused)),
        notice_backlog=notices,
        overdue=overdue.deliveries + overdue.notices,
        overdue_since=overdue.oldest,
        last_attempt=last_attempt,
        heartbeats=heartbeats,
        feeds=[FeedReading(f["id"], f["name"], f["consecutive_failures"]) for f in feeds],
        paused=paused,
    )


def metrics_text(ctx: AppContext, /) -> bytes:
    """What ``/metrics`` answers: this process's counters and the system's state (blocking)."""
    from mailer.metrics import SystemCollector

    return ctx.metrics.get().text(SystemCollector(read_system(ctx)))

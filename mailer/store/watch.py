"""Read-only aggregates an operator watches: deliveries by state per edition, overdue mail and the last attempt, heartbeats, feed failures.

Every query here is bounded by an index or by the few editions still being sent, so
``/metrics`` and ``/healthz`` can run them on every scrape: deliveries are counted for
the most recent editions and every unfinished one only (``ix_deliveries_edition_state``),
never over the whole history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, or_, select

from mailer.models import DeliveryState, EditionState
from mailer.store.deliveries import SENDABLE_EDITION_STATES
from mailer.store.tables import deliveries, editions, feeds, heartbeats, notices

#: Editions whose deliveries are still open: their counts are always read.
UNFINISHED_EDITION_STATES = (*SENDABLE_EDITION_STATES, EditionState.PAUSED)
#: Mail that waits for an attempt (first or next).
WAITING = (DeliveryState.QUEUED, DeliveryState.DEFERRED)

d = deliveries.c
n = notices.c


@dataclass(frozen=True, slots=True)
class Overdue:
    """Deliveries (of sendable editions) and notices due at or before a cutoff."""

    deliveries: int
    notices: int
    #: When the longest-waiting of them became due.
    oldest: datetime | None


def watched_editions(conn: Connection, /, *, recent: int) -> list[dict]:
    """The ``recent`` newest editions with deliveries and every unfinished one: id, number, state, reason."""
    newest = (
        select(editions.c.id)
        .where(editions.c.queued_at.is_not(None))
        .order_by(editions.c.id.desc())
        .limit(recent)
    )
    rows = conn.execute(
        select(editions.c.id, editions.c.number, editions.c.state, editions.c.reason)
        .where(
            or_(
                editions.c.id.in_(newest.scalar_subquery()),
                editions.c.state.in_([str(s) for s in UNFINISHED_EDITION_STATES]),
            )
        )
        .order_by(editions.c.id)
    ).mappings()
    return [dict(row) for row in rows]


def delivery_counts(conn: Connection, edition_ids: Sequence[int], /) -> dict[int, dict[str, int]]:
    """Deliveries by state of each of ``edition_ids`` (every state present, zeros included)."""
    counts = {edition_id: dict.fromkeys(map(str, DeliveryState), 0) for edition_id in edition_ids}
    if not edition_ids:
        return counts
    rows = conn.execute(
        select(d.edition_id, d.state, func.count())
        .where(d.edition_id.in_(list(edition_ids)))
        .group_by(d.edition_id, d.state)
    )
    for edition_id, state, count in rows:
        counts[edition_id][state] = count
    return counts


def notice_backlog(conn: Connection, /) -> dict[str, int]:
    """Notices not sent yet, by state (queued, deferred, sending; zeros included)."""
    backlog = {str(state): 0 for state in (*WAITING, DeliveryState.SENDING)}
    rows = conn.execute(
        select(n.state, func.count()).where(n.state.in_(list(backlog))).group_by(n.state)
    )
    for state, count in rows:
        backlog[state] = count
    return backlog


def overdue(conn: Connection, /, *, cutoff: datetime) -> Overdue:
    """Mail due at or before ``cutoff`` and not sent: the queued or deferred deliveries of
    sendable editions (a queued one is due since it was queued) and notices."""
    due_at = func.coalesce(d.next_attempt_at, d.updated_at)
    count, oldest = conn.execute(
        select(func.count(), func.min(due_at))
        .join(editions, editions.c.id == d.edition_id)
        .where(
            editions.c.state.in_([str(s) for s in SENDABLE_EDITION_STATES]),
            d.state.in_(list(WAITING)),
            due_at <= cutoff,
        )
    ).one()
    notice_count, notice_oldest = conn.execute(
        select(func.count(), func.min(n.next_attempt_at)).where(
            n.state.in_(list(WAITING)), n.next_attempt_at <= cutoff
        )
    ).one()
    times = [t for t in (oldest, notice_oldest) if t is not None]
    return Overdue(count, notice_count, min(times) if times else None)


def last_attempt(conn: Connection, /) -> datetime | None:
    """When a worker last started sending a message: a delivery of a sendable edition, or a notice."""
    latest_delivery = conn.execute(
        select(func.max(d.claimed_at))
        .join(editions, editions.c.id == d.edition_id)
        .where(editions.c.state.in_([str(s) for s in SENDABLE_EDITION_STATES]))
    ).scalar()
    latest_notice = conn.execute(select(func.max(n.claimed_at))).scalar()
    times = [t for t in (latest_delivery, latest_notice) if t is not None]
    return max(times) if times else None


def all_heartbeats(conn: Connection, /) -> list[dict]:
    """Every process's heartbeat row (instance, role, host, pid, started_at, seen_at)."""
    rows = conn.execute(select(heartbeats).order_by(heartbeats.c.role, heartbeats.c.started_at))
    return [dict(row) for row in rows.mappings()]


def enabled_feeds(conn: Connection, /) -> list[dict]:
    """Id, name and failures in a row of every enabled feed."""
    rows = conn.execute(
        select(feeds.c.id, feeds.c.name, feeds.c.consecutive_failures)
        .where(feeds.c.enabled.is_(True))
        .order_by(feeds.c.id)
    ).mappings()
    return [dict(row) for row in rows]

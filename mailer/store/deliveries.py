"""Digest deliveries: queue an edition, claim batches, record outcomes with hard bounces, edition states.

A delivery follows the state machine of store/mail_queue.py (queued → sending → sent |
deferred | failed | unknown), plus ``skipped`` for a subscriber suppressed between
queueing and sending. The worker registry and recovery are in store/workers.py.

On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED`` so several workers share an
edition; on SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (see db.py),
so claims are serialised by the database's single writer lock instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    Connection,
    Integer,
    String,
    bindparam,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from mailer.keys import IdentityKeys
from mailer.models import DeliveryState, EditionState, SubscriberStatus
from mailer.store.mail_queue import DELIVERY_QUEUE, OPEN_STATES, Outcome
from mailer.store.mail_queue import record_outcomes as record_queue_outcomes
from mailer.store.suppressions import suppress_new, suppressed_among
from mailer.store.tables import UtcDateTime, deliveries, editions, subscribers

#: Editions whose deliveries workers take.
SENDABLE_EDITION_STATES = (EditionState.QUEUED, EditionState.SENDING)
#: Reason recorded when a hard bounce suppresses an address.
BOUNCE_REASON = "bounced"

d = deliveries.c


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a worker holds, with what sending it needs."""

    id: int
    edition_id: int
    subscriber_id: int
    #: The state it was claimed in (queued or deferred): a message given back unsent returns to it.
    state: str
    attempts: int
    first_attempt_at: datetime | None
    email: str
    name: str | None
    token: str


@dataclass(slots=True)
class ClaimResult:
    claimed: list[ClaimedDelivery] = field(default_factory=list)
    skipped: int = 0


def _insert(conn: Connection):
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


# -- editions -------------------------------------------------------------------------------


def get_edition(conn: Connection, edition_id: int, /) -> dict | None:
    row = conn.execute(select(editions).where(editions.c.id == edition_id)).mappings().first()
    return dict(row) if row else None


def recent_editions(conn: Connection, /, *, limit: int = 10) -> list[dict]:
    rows = conn.execute(
        select(
            editions.c.id,
            editions.c.number,
            editions.c.state,
            editions.c.subject,
            editions.c.reason,
            editions.c.scheduled_for,
        )
        # Newest made first: a skipped edition has no number to sort by.
        .order_by(editions.c.id.desc())
        .limit(limit)
    ).mappings()
    return [dict(row) for row in rows]


def sendable_editions(conn: Connection, /) -> list[int]:
    rows = conn.execute(
        select(editions.c.id)
        .where(editions.c.state.in_([str(s) for s in SENDABLE_EDITION_STATES]))
        .order_by(editions.c.id)
    )
    return list(rows.scalars())


def mark_edition_queued(conn: Connection, edition_id: int, /, *, now: datetime) -> bool:
    """draft → queued; False when the edition was not a draft (already queued or further)."""
    result = conn.execute(
        update(editions)
        .where(editions.c.id == edition_id, editions.c.state == EditionState.DRAFT)
        .values(state=EditionState.QUEUED, queued_at=now)
    )
    return result.rowcount == 1


def mark_edition_sending(conn: Connection, edition_id: int, /) -> None:
    conn.execute(
        update(editions)
        .where(editions.c.id == edition_id, editions.c.state == EditionState.QUEUED)
        .values(state=EditionState.SENDING)
    )


def finish_edition_if_done(conn: Connection, edition_id: int, /, *, now: datetime) -> bool:
    """Mark the edition sent once no delivery is queued, sending or deferred; True if it was."""
    remaining = conn.execute(
        select(d.id).where(d.edition_id == edition_id, d.state.in_(list(OPEN_STATES))).limit(1)
    ).first()
    if remaining is not None:
        return False
    result = conn.execute(
        update(editions)
        .where(
            editions.c.id == edition_id,
            editions.c.state.in_([str(s) for s in SENDABLE_EDITION_STATES]),
        )
        .values(state=EditionState.SENT, sent_at=now)
    )
    return result.rowcount == 1


def pause_edition(conn: Connection, edition_id: int, /, *, reason: str) -> bool:
    result = conn.execute(
        update(editions)
        .where(
            editions.c.id == edition_id,
            editions.c.state.in_([str(s) for s in SENDABLE_EDITION_STATES]),
        )
        .values(state=EditionState.PAUSED, reason=reason)
    )
    return result.rowcount == 1


def resume_edition(conn: Connection, edition_id: int, /, *, now: datetime) -> int | None:
    """paused → sending, deferred deliveries due now; None when the edition was not paused."""
    result = conn.execute(
        update(editions)
        .where(editions.c.id == edition_id, editions.c.state == EditionState.PAUSED)
        .values(state=EditionState.SENDING, reason=None)
    )
    if result.rowcount != 1:
        return None
    due = conn.execute(
        update(deliveries)
        .where(
            d.edition_id == edition_id,
            d.state == DeliveryState.DEFERRED,
            d.claimed_by.is_(None),
        )
        .values(next_attempt_at=now, updated_at=now)
    )
    return due.rowcount


def requeue_unknown(conn: Connection, edition_id: int, /, *, now: datetime) -> int:
    """unknown → queued (a staff decision to risk a duplicate); reopens a sent edition."""
    result = conn.execute(
        update(deliveries)
        .where(d.edition_id == edition_id, d.state == DeliveryState.UNKNOWN)
        .values(
            state=DeliveryState.QUEUED,
            claimed_by=None,
            claimed_at=None,
            next_attempt_at=None,
            last_error="resend of an unknown outcome requested",
            updated_at=now,
        )
    )
    if result.rowcount:
        conn.execute(
            update(editions)
            .where(editions.c.id == edition_id, editions.c.state == EditionState.SENT)
            .values(state=EditionState.SENDING, sent_at=None)
        )
    return result.rowcount


# -- queueing -------------------------------------------------------------------------------


def queue_batch(
    conn: Connection, edition_id: int, /, *, after_id: int, limit: int, now: datetime
) -> tuple[int, int | None]:
    """Insert deliveries for the next ``limit`` active subscribers after ``after_id``.

    Returns (rows inserted, last subscriber id covered); the id is None when this batch
    reached the end of the list.
    The rows are made by INSERT … SELECT in the database, so the subscriber list never
    passes through this process; ON CONFLICT DO NOTHING keeps it idempotent.
    """
    active = (subscribers.c.status == SubscriberStatus.ACTIVE, subscribers.c.id > after_id)
    upper = conn.execute(
        select(subscribers.c.id)
        .where(*active)
        .order_by(subscribers.c.id)
        .offset(limit - 1)
        .limit(1)
    ).scalar()
    where = [*active]
    if upper is not None:
        where.append(subscribers.c.id <= upper)
    rows = select(
        literal(edition_id, Integer),
        subscribers.c.id,
        literal(str(DeliveryState.QUEUED), String),
        literal(0, Integer),
        literal(now, UtcDateTime()),
    ).where(*where)
    statement = (
        _insert(conn)(deliveries)
        .from_select(["edition_id", "subscriber_id", "state", "attempts", "updated_at"], rows)
        .on_conflict_do_nothing(index_elements=["edition_id", "subscriber_id"])
    )
    # SQLAlchemy reports an INSERT's row count only when asked to keep it.
    inserted = conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount
    return inserted, upper


# -- claiming and recording -----------------------------------------------------------------


def claim_batch(
    conn: Connection,
    /,
    *,
    worker_id: str,
    edition_id: int,
    limit: int,
    now: datetime,
    keys: IdentityKeys,
) -> ClaimResult:
    """Claim up to ``limit`` due deliveries of an edition; suppressed subscribers become skipped.

    Suppression (status not active, or the address key in ``suppressions``) is re-checked
    here, once per batch, right before the batch is sent (design §4 "Delivery"). ``keys``
    make the address keys and each subscriber's link token (only its seed is stored).
    """
    postgres = conn.dialect.name == "postgresql"
    base = (
        select(
            d.id,
            d.edition_id,
            d.subscriber_id,
            d.attempts,
            d.state,
            d.first_attempt_at,
            subscribers.c.email,
            subscribers.c.name,
            subscribers.c.token_seed,
            subscribers.c.status,
        )
        .join(subscribers, subscribers.c.id == d.subscriber_id)
        .where(d.edition_id == edition_id, d.claimed_by.is_(None))
    )

    def fetch(query, count: int) -> list:
        if postgres:
            # Rows another worker is claiming right now are skipped, not waited for.
            query = query.with_for_update(of=deliveries, skip_locked=True)
        return conn.execute(query.limit(count)).all()

    rows = fetch(base.where(d.state == DeliveryState.QUEUED), limit)
    if len(rows) < limit:
        rows += fetch(
            base.where(d.state == DeliveryState.DEFERRED, d.next_attempt_at <= now),
            limit - len(rows),
        )
    result = ClaimResult()
    if not rows:
        return result
    conn.execute(
        update(deliveries)
        .where(d.id.in_([row.id for row in rows]))
        .values(claimed_by=worker_id, claimed_at=now)
    )
    hashes = {row.id: keys.address_key(row.email) for row in rows}
    suppressed = suppressed_among(conn, list(set(hashes.values())))
    skips = []
    for row in rows:
        if row.status != SubscriberStatus.ACTIVE:
            skips.append({"b_id": row.id, "b_error": f"subscriber is {row.status}"})
        elif hashes[row.id] in suppressed:
            skips.append({"b_id": row.id, "b_error": "address is on the suppression list"})
        else:
            result.claimed.append(
                ClaimedDelivery(
                    id=row.id,
                    edition_id=row.edition_id,
                    subscriber_id=row.subscriber_id,
                    state=row.state,
                    attempts=row.attempts,
                    first_attempt_at=row.first_attempt_at,
                    email=row.email,
                    name=row.name,
                    token=keys.link_token(row.token_seed),
                )
            )
    if skips:
        conn.execute(
            update(deliveries)
            .where(d.id == bindparam("b_id"))
            .values(state=DeliveryState.SKIPPED, last_error=bindparam("b_error"), updated_at=now),
            skips,
        )
    result.skipped = len(skips)
    return result


def record_outcomes(
    conn: Connection,
    outcomes: Sequence[Outcome],
    /,
    *,
    worker_id: str,
    now: datetime,
    keys: IdentityKeys,
) -> None:
    """Write attempt outcomes in bulk (store/mail_queue.py), then act on the hard bounces."""
    record_queue_outcomes(conn, DELIVERY_QUEUE, outcomes, worker_id=worker_id, now=now)
    bounces = {
        outcome.bounce_subscriber_id: outcome.bounce_email
        for outcome in outcomes
        if outcome.bounce_subscriber_id is not None and outcome.bounce_email
    }
    if bounces:
        suppress_bounced(conn, bounces, now=now, keys=keys)


def suppress_bounced(
    conn: Connection, bounces: dict[int, str], /, *, now: datetime, keys: IdentityKeys
) -> None:
    """A hard bounce (RFC 5321 550/551/553): the subscriber is bounced and the address suppressed."""
    conn.execute(
        update(subscribers)
        .where(
            subscribers.c.id.in_(list(bounces)),
            subscribers.c.status == SubscriberStatus.ACTIVE,
        )
        .values(status=SubscriberStatus.BOUNCED)
    )
    suppress_new(
        conn,
        [keys.address_key(email) for email in bounces.values()],
        reason=BOUNCE_REASON,
        at=now,
    )


def next_due(conn: Connection, /) -> datetime | None:
    """When the earliest unclaimed deferred delivery of a sendable edition is due."""
    return conn.execute(
        select(func.min(d.next_attempt_at))
        .join(editions, editions.c.id == d.edition_id)
        .where(
            d.state == DeliveryState.DEFERRED,
            d.claimed_by.is_(None),
            editions.c.state.in_([str(s) for s in SENDABLE_EDITION_STATES]),
        )
    ).scalar()


def counts_by_state(conn: Connection, edition_id: int, /) -> dict[str, int]:
    rows = conn.execute(
        select(d.state, func.count()).where(d.edition_id == edition_id).group_by(d.state)
    )
    return {state: count for state, count in rows}


def active_subscriber_count(conn: Connection, /) -> int:
    return conn.execute(
        select(func.count())
        .select_from(subscribers)
        .where(subscribers.c.status == SubscriberStatus.ACTIVE)
    ).scalar_one()

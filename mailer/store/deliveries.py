"""Delivery rows: queue an edition, claim batches, record outcomes in bulk, track worker liveness.

A delivery moves queued → sending → sent | deferred | failed | unknown (| skipped).
A worker first *claims* rows (``claimed_by`` set, state unchanged), then marks at most
one row per SMTP connection ``sending`` just before it goes on the wire, and records
the outcome only after the relay answered (style rule 7). So when a worker dies, its
``sending`` rows are exactly the messages that may have been in flight, and its other
claims can simply be released.

On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED`` so several workers share an
edition; on SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (see db.py),
so claims are serialised by the database's single writer lock instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import (
    Connection,
    Integer,
    String,
    bindparam,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from mailer.models import DeliveryState, EditionState, SubscriberStatus, email_hash
from mailer.store.heartbeats import record_heartbeat, remove_heartbeat
from mailer.store.suppressions import suppress_new, suppressed_among
from mailer.store.tables import UtcDateTime, deliveries, editions, heartbeats, subscribers

#: Editions whose deliveries workers take.
SENDABLE_EDITION_STATES = (EditionState.QUEUED, EditionState.SENDING)
#: Delivery states that still need work; an edition with none left is complete.
OPEN_STATES = (DeliveryState.QUEUED, DeliveryState.SENDING, DeliveryState.DEFERRED)
WORKER_ROLE = "worker"
#: Reason recorded when a hard bounce suppresses an address.
BOUNCE_REASON = "bounced"

d = deliveries.c


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a worker holds, with what sending it needs."""

    id: int
    edition_id: int
    subscriber_id: int
    attempts: int
    first_attempt_at: datetime | None
    email: str
    name: str | None
    token: str


@dataclass(slots=True)
class Outcome:
    """What happened to one delivery attempt; written in bulk by :func:`record_outcomes`."""

    delivery_id: int
    state: DeliveryState
    code: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None
    #: Set on a hard bounce: the subscriber becomes bounced and the address suppressed.
    bounce_subscriber_id: int | None = None
    bounce_email: str | None = None


@dataclass(slots=True)
class ClaimResult:
    claimed: list[ClaimedDelivery] = field(default_factory=list)
    skipped: int = 0


@dataclass(slots=True)
class Recovery:
    """What :func:`recover_dead_workers` did."""

    unknown: int = 0
    released: int = 0
    workers: list[str] = field(default_factory=list)


def _insert(conn: Connection):
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


# -- editions -------------------------------------------------------------------------------


def get_edition(conn: Connection, edition_id: int, /) -> dict | None:
    row = conn.execute(select(editions).where(editions.c.id == edition_id)).mappings().first()
    return dict(row) if row else None


def recent_editions(conn: Connection, /, *, limit: int = 10) -> list[dict]:
    rows = conn.execute(
        select(editions.c.id, editions.c.number, editions.c.state, editions.c.reason)
        .order_by(editions.c.number.desc())
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
    conn: Connection, /, *, worker_id: str, edition_id: int, limit: int, now: datetime
) -> ClaimResult:
    """Claim up to ``limit`` due deliveries of an edition; suppressed subscribers become skipped.

    Suppression (status not active, or the address hash in ``suppressions``) is re-checked
    here, once per batch, right before the batch is sent (design §4 "Delivery").
    """
    postgres = conn.dialect.name == "postgresql"
    base = (
        select(
            d.id,
            d.edition_id,
            d.subscriber_id,
            d.attempts,
            d.first_attempt_at,
            subscribers.c.email,
            subscribers.c.name,
            subscribers.c.token,
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
    hashes = {row.id: email_hash(row.email) for row in rows}
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
                    attempts=row.attempts,
                    first_attempt_at=row.first_attempt_at,
                    email=row.email,
                    name=row.name,
                    token=row.token,
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


def start_sending(
    conn: Connection, ids: Sequence[int], /, *, worker_id: str, now: datetime
) -> set[int]:
    """Mark claimed rows ``sending`` just before SMTP; returns the ids this worker still holds.

    A row missing from the result was taken away (its worker was judged dead and the
    claim released) and must not be sent.
    """
    if not ids:
        return set()
    result = conn.execute(
        update(deliveries)
        .where(
            d.id.in_(list(ids)),
            d.claimed_by == worker_id,
            d.state.in_([DeliveryState.QUEUED, DeliveryState.DEFERRED]),
        )
        .values(
            state=DeliveryState.SENDING,
            claimed_at=now,
            first_attempt_at=func.coalesce(d.first_attempt_at, now),
            updated_at=now,
        )
        .returning(d.id)
    )
    return set(result.scalars())


def record_outcomes(
    conn: Connection, outcomes: Iterable[Outcome], /, *, worker_id: str, now: datetime
) -> None:
    """Write attempt outcomes in a few bulk statements (after the SMTP replies, rule 7).

    Only rows this worker holds in ``sending`` — or that a recovery already called
    ``unknown`` — are written, so a worker wrongly judged dead cannot overwrite
    another worker's row.
    """
    sent: dict[int | None, list[int]] = defaultdict(list)
    others: list[dict] = []
    bounces: dict[int, str] = {}
    for outcome in outcomes:
        if outcome.state == DeliveryState.SENT:
            sent[outcome.code].append(outcome.delivery_id)
            continue
        deferred = outcome.state == DeliveryState.DEFERRED
        others.append(
            {
                "b_id": outcome.delivery_id,
                "b_state": str(outcome.state),
                "b_code": outcome.code,
                "b_error": (outcome.error or "")[:2000],
                "b_next": outcome.next_attempt_at,
                # A deferred row goes back to the pool for any worker to retry.
                "b_claimed_by": None if deferred else worker_id,
            }
        )
        if outcome.bounce_subscriber_id is not None and outcome.bounce_email:
            bounces[outcome.bounce_subscriber_id] = outcome.bounce_email
    # Plain comparisons, not IN: executemany cannot expand an IN list.
    held = (
        d.claimed_by == worker_id,
        or_(d.state == DeliveryState.SENDING, d.state == DeliveryState.UNKNOWN),
    )
    for code, ids in sent.items():
        conn.execute(
            update(deliveries)
            .where(d.id.in_(ids), *held)
            .values(
                state=DeliveryState.SENT,
                attempts=d.attempts + 1,
                last_code=code,
                last_error=None,
                next_attempt_at=None,
                sent_at=now,
                updated_at=now,
            )
        )
    if others:
        conn.execute(
            update(deliveries)
            .where(d.id == bindparam("b_id"), *held)
            .values(
                state=bindparam("b_state"),
                attempts=d.attempts + 1,
                last_code=bindparam("b_code"),
                last_error=bindparam("b_error"),
                next_attempt_at=bindparam("b_next"),
                claimed_by=bindparam("b_claimed_by"),
                updated_at=now,
            ),
            others,
        )
    if bounces:
        suppress_bounced(conn, bounces, now=now)


def suppress_bounced(conn: Connection, bounces: dict[int, str], /, *, now: datetime) -> None:
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
        conn, [email_hash(email) for email in bounces.values()], reason=BOUNCE_REASON, at=now
    )


def release_claims(conn: Connection, ids: Sequence[int], /, *, worker_id: str) -> int:
    """Give back claimed rows that were not sent (shutdown, paused edition)."""
    if not ids:
        return 0
    result = conn.execute(
        update(deliveries)
        .where(
            d.id.in_(list(ids)),
            d.claimed_by == worker_id,
            d.state.in_([DeliveryState.QUEUED, DeliveryState.DEFERRED]),
        )
        .values(claimed_by=None, claimed_at=None)
    )
    return result.rowcount


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


# -- worker liveness ------------------------------------------------------------------------


def register_worker(
    conn: Connection, instance: str, /, *, host: str, pid: int, now: datetime
) -> None:
    record_heartbeat(conn, instance, role=WORKER_ROLE, host=host, pid=pid, started_at=now, now=now)


def beat(conn: Connection, instance: str, /, *, host: str, pid: int, now: datetime) -> bool:
    """Record that the worker is alive; False if its row was gone (it had been judged dead)."""
    return record_heartbeat(
        conn, instance, role=WORKER_ROLE, host=host, pid=pid, started_at=now, now=now
    )


def unregister_worker(conn: Connection, instance: str, /) -> None:
    remove_heartbeat(conn, instance)


def recover_dead_workers(
    conn: Connection,
    /,
    *,
    now: datetime,
    stale_after: float,
    host: str,
    pid_alive: Callable[[int], bool],
) -> Recovery:
    """Close the books of workers that died: their ``sending`` rows → unknown, other claims released.

    A worker is dead when its heartbeat is older than ``stale_after``, when it ran on
    this host and its process is gone, or when rows carry its id but it has no
    heartbeat at all. Its ``sending`` rows are exactly the messages it had on the wire
    (at most one per connection); whether the relay took them cannot be known
    (RFC 1047), so they are not resent automatically (design §4 "Delivery").
    """
    cutoff = now - timedelta(seconds=stale_after)
    alive: set[str] = set()
    dead: list[str] = []
    for row in conn.execute(select(heartbeats).where(heartbeats.c.role == WORKER_ROLE)):
        gone = row.host == host and not pid_alive(row.pid)
        if row.seen_at < cutoff or gone:
            dead.append(row.instance)
        else:
            alive.add(row.instance)
    claimants = set(
        conn.execute(
            select(d.claimed_by)
            .where(d.state.in_(list(OPEN_STATES)), d.claimed_by.is_not(None))
            .distinct()
        ).scalars()
    )
    orphans = sorted(claimants - alive)
    recovery = Recovery(workers=sorted(set(orphans) | set(dead)))
    if orphans:
        recovery.unknown = conn.execute(
            update(deliveries)
            .where(d.state == DeliveryState.SENDING, d.claimed_by.in_(orphans))
            .values(
                state=DeliveryState.UNKNOWN,
                last_error="in flight when its worker stopped; the relay may or may not have it",
                updated_at=now,
            )
        ).rowcount
        recovery.released = conn.execute(
            update(deliveries)
            .where(
                d.state.in_([DeliveryState.QUEUED, DeliveryState.DEFERRED]),
                d.claimed_by.in_(orphans),
            )
            .values(claimed_by=None, claimed_at=None)
        ).rowcount
    if dead:
        conn.execute(heartbeats.delete().where(heartbeats.c.instance.in_(dead)))
    return recovery

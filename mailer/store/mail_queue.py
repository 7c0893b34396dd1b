"""The state machine of queued mail, one for deliveries and notices: start sending, record outcomes, release, recover.

A row moves queued → sending → sent | deferred | failed | unknown. A worker first
*claims* rows (``claimed_by`` set, state unchanged), then marks at most one row per
SMTP connection ``sending`` just before it goes on the wire, and records the outcome
only after the relay answered (style rule 7). So when a worker dies, its ``sending``
rows are exactly the messages that may have been in flight, and its other claims can
simply be released. How rows are claimed differs per table (an edition's batch with
suppressions re-checked, due notices first), so claiming lives with each table's
module; everything after the claim is here, once.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Executable, Table, bindparam, func, or_, select, update

from mailer.models import DeliveryState
from mailer.store.tables import deliveries, notices

#: States that still need work; a row in any other state is final.
OPEN_STATES = (DeliveryState.QUEUED, DeliveryState.SENDING, DeliveryState.DEFERRED)
#: States of a claimed row that is not on the wire.
WAITING_STATES = (DeliveryState.QUEUED, DeliveryState.DEFERRED)
#: What recovery writes on a row that was on the wire when its worker died.
IN_FLIGHT_ERROR = "in flight when its worker stopped; the relay may or may not have it"


@dataclass(frozen=True, slots=True)
class MailQueue:
    """A table of queued mail following the state machine, and the columns it keeps besides."""

    table: Table
    #: The table stamps every change of state (``updated_at``).
    updated_at: bool
    #: The retry deadline counts from the first attempt (``first_attempt_at``).
    first_attempt_at: bool
    #: The row holds the address in clear, dropped once the mail reached an end state
    #: (개인정보보호법 제21조: kept no longer than needed).
    to_address: bool


DELIVERY_QUEUE = MailQueue(deliveries, updated_at=True, first_attempt_at=True, to_address=False)
NOTICE_QUEUE = MailQueue(notices, updated_at=False, first_attempt_at=False, to_address=True)


@dataclass(slots=True)
class Outcome:
    """What happened to one attempt; written in bulk by :func:`record_outcomes`."""

    id: int
    state: DeliveryState
    code: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None
    #: Set on a digest's hard bounce: the subscriber becomes bounced and the address suppressed.
    bounce_subscriber_id: int | None = None
    bounce_email: str | None = None


def _stamp(queue: MailQueue, now: object, values: dict) -> dict:
    if queue.updated_at:
        values["updated_at"] = now
    return values


@dataclass(frozen=True, slots=True)
class _Statements:
    """The statements of every worker tick, built once per queue (building one costs ~0.1 ms)."""

    start: Executable
    sent: Executable
    retried: Executable
    ended: Executable


@functools.cache
def _statements(queue: MailQueue) -> _Statements:
    t = queue.table.c
    # Typed binds: inside coalesce() an untyped one would miss the UTC conversion.
    now = bindparam("b_now", type_=t.claimed_at.type)
    worker = bindparam("b_worker", type_=t.claimed_by.type)
    ids = bindparam("b_ids", expanding=True)
    start = {"state": DeliveryState.SENDING, "claimed_at": now}
    if queue.first_attempt_at:
        start["first_attempt_at"] = func.coalesce(t.first_attempt_at, now)
    # Only rows this worker holds in ``sending`` — or that a recovery already called
    # ``unknown`` — are written, so a worker wrongly judged dead cannot overwrite
    # another worker's row. Plain comparisons, not IN: executemany cannot expand an IN list.
    held = (
        t.claimed_by == worker,
        or_(t.state == DeliveryState.SENDING, t.state == DeliveryState.UNKNOWN),
    )
    # notices.next_attempt_at is NOT NULL: an end state leaves the last one there.
    next_nullable = t.next_attempt_at.nullable
    forget = {"to_address": None} if queue.to_address else {}
    sent = {
        "state": DeliveryState.SENT,
        "attempts": t.attempts + 1,
        "last_code": bindparam("b_code", type_=t.last_code.type),
        "last_error": None,
        "sent_at": now,
        **forget,
    }
    if next_nullable:
        sent["next_attempt_at"] = None
    next_bind = bindparam("b_next", type_=t.next_attempt_at.type)

    def attempted(extra: dict) -> Executable:
        values = {
            "state": bindparam("b_state", type_=t.state.type),
            "attempts": t.attempts + 1,
            "last_code": bindparam("b_code", type_=t.last_code.type),
            "last_error": bindparam("b_error", type_=t.last_error.type),
            "next_attempt_at": (
                next_bind if next_nullable else func.coalesce(next_bind, t.next_attempt_at)
            ),
            "claimed_by": bindparam("b_claimed_by", type_=t.claimed_by.type),
            **extra,
        }
        return (
            update(queue.table)
            .where(t.id == bindparam("b_id"), *held)
            .values(**_stamp(queue, now, values))
        )

    return _Statements(
        start=update(queue.table)
        .where(t.id.in_(ids), t.claimed_by == worker, t.state.in_(list(WAITING_STATES)))
        .values(**_stamp(queue, now, start))
        .returning(t.id),
        sent=update(queue.table).where(t.id.in_(ids), *held).values(**_stamp(queue, now, sent)),
        retried=attempted({}),
        ended=attempted(forget),
    )


def start_sending(
    conn: Connection, queue: MailQueue, ids: Sequence[int], /, *, worker_id: str, now: datetime
) -> set[int]:
    """Mark claimed rows ``sending`` just before SMTP; returns the ids this worker still holds.

    A row missing from the result was taken away (its worker was judged dead and the
    claim released) and must not be sent.
    """
    if not ids:
        return set()
    result = conn.execute(
        _statements(queue).start, {"b_ids": list(ids), "b_worker": worker_id, "b_now": now}
    )
    return set(result.scalars())


def record_outcomes(
    conn: Connection,
    queue: MailQueue,
    outcomes: Iterable[Outcome],
    /,
    *,
    worker_id: str,
    now: datetime,
) -> None:
    """Write attempt outcomes in a few bulk statements (after the SMTP replies, rule 7).

    Only rows this worker holds in ``sending`` — or that a recovery already called
    ``unknown`` — are written. Hard bounces are the caller's to act on.
    """
    statements = _statements(queue)
    sent: dict[int | None, list[int]] = defaultdict(list)
    retried: list[dict] = []
    ended: list[dict] = []
    for outcome in outcomes:
        if outcome.state == DeliveryState.SENT:
            sent[outcome.code].append(outcome.id)
            continue
        deferred = outcome.state == DeliveryState.DEFERRED
        # Without an address to drop, deferred and final rows share one statement.
        rows = retried if deferred or not queue.to_address else ended
        rows.append(
            {
                "b_id": outcome.id,
                "b_state": str(outcome.state),
                "b_code": outcome.code,
                "b_error": (outcome.error or "")[:2000],
                "b_next": outcome.next_attempt_at,
                # A deferred row goes back to the pool for any worker to retry.
                "b_claimed_by": None if deferred else worker_id,
                "b_worker": worker_id,
                "b_now": now,
            }
        )
    for code, ids in sent.items():
        conn.execute(
            statements.sent, {"b_ids": ids, "b_code": code, "b_worker": worker_id, "b_now": now}
        )
    if retried:
        conn.execute(statements.retried, retried)
    if ended:
        conn.execute(statements.ended, ended)


def release_claims(
    conn: Connection, queue: MailQueue, ids: Sequence[int], /, *, worker_id: str
) -> int:
    """Give back claimed rows that were not sent (shutdown, paused edition)."""
    if not ids:
        return 0
    t = queue.table.c
    result = conn.execute(
        update(queue.table)
        .where(t.id.in_(list(ids)), t.claimed_by == worker_id, t.state.in_(list(WAITING_STATES)))
        .values(claimed_by=None, claimed_at=None)
    )
    return result.rowcount


def give_back(
    conn: Connection,
    queue: MailQueue,
    rows: Sequence[tuple[int, str, datetime | None]],
    /,
    *,
    worker_id: str,
) -> None:
    """Undo :func:`start_sending` for messages that never reached the wire: (id, state, first attempt).

    Each row returns to the state it was claimed in, unclaimed, as if it had not been
    started (a stopping worker gave it back before the final dot).
    """
    if not rows:
        return
    t = queue.table.c
    values = {"state": bindparam("b_state"), "claimed_by": None, "claimed_at": None}
    if queue.first_attempt_at:
        values["first_attempt_at"] = bindparam("b_first", type_=t.first_attempt_at.type)
    conn.execute(
        update(queue.table)
        .where(
            t.id == bindparam("b_id"),
            t.claimed_by == worker_id,
            t.state == DeliveryState.SENDING,
        )
        .values(**values),
        [{"b_id": row_id, "b_state": state, "b_first": first} for row_id, state, first in rows],
    )


def claimants(conn: Connection, queue: MailQueue, /) -> set[str]:
    """Workers that hold open rows of this queue."""
    t = queue.table.c
    return set(
        conn.execute(
            select(t.claimed_by)
            .where(t.state.in_(list(OPEN_STATES)), t.claimed_by.is_not(None))
            .distinct()
        ).scalars()
    )


def close_books_of(
    conn: Connection, queue: MailQueue, workers: Sequence[str], /, *, now: datetime
) -> tuple[int, int]:
    """Dead workers' rows: ``sending`` → unknown, other claims released; returns (unknown, released).

    A ``sending`` row may be on the relay already (RFC 1047), so it is not resent
    automatically (design §4 "Delivery"); staff may resend digests on purpose.
    """
    if not workers:
        return 0, 0
    t = queue.table.c
    values = {"state": DeliveryState.UNKNOWN, "last_error": IN_FLIGHT_ERROR}
    if queue.to_address:
        values["to_address"] = None  # never resent: the address is not needed any more
    unknown = conn.execute(
        update(queue.table)
        .where(t.state == DeliveryState.SENDING, t.claimed_by.in_(list(workers)))
        .values(**_stamp(queue, now, values))
    ).rowcount
    released = conn.execute(
        update(queue.table)
        .where(t.state.in_(list(WAITING_STATES)), t.claimed_by.in_(list(workers)))
        .values(claimed_by=None, claimed_at=None)
    ).rowcount
    return unknown, released

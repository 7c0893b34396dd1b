"""The queue of transactional notice mails: enqueue, claim what is due, record outcomes and the ledger entry.

Notices are claimed, sent and recorded by the delivery worker with the state machine
of store/mail_queue.py, the same as digest deliveries; this module holds what is
particular to them: enqueueing, claiming due notices, and the consent-ledger entry
written once a notice was sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from mailer.keys import IdentityKeys
from mailer.models import ConsentKind, DeliveryState
from mailer.store.consent import record_event
from mailer.store.mail_queue import NOTICE_QUEUE, Outcome
from mailer.store.mail_queue import record_outcomes as record_queue_outcomes
from mailer.store.tables import notices

QUEUED = DeliveryState.QUEUED
SENDING = DeliveryState.SENDING
DEFERRED = DeliveryState.DEFERRED
SENT = DeliveryState.SENT
FAILED = DeliveryState.FAILED
#: Sent or not, nobody can tell (in flight when its worker died): an end state, never resent.
UNKNOWN = DeliveryState.UNKNOWN


_INSERT_RETURNING_ID = insert(notices).returning(notices.c.id)


def enqueue(
    conn: Connection,
    kind: str,
    /,
    *,
    to_address: str,
    now: datetime,
    subscriber_id: int | None = None,
    context: dict[str, Any] | None = None,
) -> int:
    parameters = {
        "kind": kind,
        "subscriber_id": subscriber_id,
        "to_address": to_address,
        "context": context or {},
        "state": QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    return conn.execute(_INSERT_RETURNING_ID, parameters).scalar_one()


def enqueue_many(conn: Connection, rows: list[dict[str, Any]], /) -> None:
    """Bulk enqueue (import): dicts with kind, to_address, subscriber_id, context, now."""
    if rows:
        conn.execute(
            insert(notices),
            [
                {
                    "kind": row["kind"],
                    "subscriber_id": row.get("subscriber_id"),
                    "to_address": row["to_address"],
                    "context": row.get("context") or {},
                    "state": QUEUED,
                    "attempts": 0,
                    "next_attempt_at": row["now"],
                    "created_at": row["now"],
                }
                for row in rows
            ],
        )


def has_unsent(conn: Connection, subscriber_id: int, kind: str, /) -> bool:
    """True when a notice of this kind still waits for this subscriber (no second one is queued)."""
    return (
        conn.execute(
            select(notices.c.id)
            .where(
                (notices.c.subscriber_id == subscriber_id)
                & (notices.c.kind == kind)
                & notices.c.state.in_((QUEUED, DEFERRED, SENDING))
            )
            .limit(1)
        ).first()
        is not None
    )


@dataclass(frozen=True, slots=True)
class ClaimedNotice:
    """A notice a worker holds, with what building and sending it needs."""

    id: int
    kind: str
    subscriber_id: int | None
    to_address: str
    context: dict[str, Any]
    #: The state it was claimed in (queued or deferred): a message given back unsent returns to it.
    state: str
    attempts: int
    created_at: datetime


def claim_notices(
    conn: Connection, /, *, worker_id: str, limit: int, now: datetime
) -> list[ClaimedNotice]:
    """Claim up to ``limit`` due notices for a worker (state unchanged, ``claimed_by`` set).

    From here on the notice follows the state machine of store/mail_queue.py, like a
    delivery. On PostgreSQL a notice another worker is claiming right now is skipped.
    """
    query = (
        select(notices)
        .where(
            notices.c.state.in_((QUEUED, DEFERRED)),
            notices.c.next_attempt_at <= now,
            notices.c.claimed_by.is_(None),
        )
        .order_by(notices.c.next_attempt_at, notices.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).mappings().all()
    if not rows:
        return []
    conn.execute(
        update(notices)
        .where(notices.c.id.in_([row["id"] for row in rows]))
        .values(claimed_by=worker_id, claimed_at=now)
    )
    return [
        ClaimedNotice(
            id=row["id"],
            kind=row["kind"],
            subscriber_id=row["subscriber_id"],
            to_address=row["to_address"] or "",
            context=dict(row["context"] or {}),
            state=row["state"],
            attempts=row["attempts"],
            created_at=row["created_at"],
        )
        for row in rows
    ]


def record_outcomes(
    conn: Connection,
    outcomes: Sequence[Outcome],
    /,
    *,
    sent: Sequence[ClaimedNotice],
    worker_id: str,
    now: datetime,
    keys: IdentityKeys,
) -> None:
    """Write notice outcomes (store/mail_queue.py) and the ledger's "notice" entry of each sent one.

    The ledger records that the subscriber was told (정보통신망법 제50조⑦), only now
    that the relay took the mail (style rule 7).
    """
    record_queue_outcomes(conn, NOTICE_QUEUE, outcomes, worker_id=worker_id, now=now)
    for notice in sent:
        record_event(
            conn,
            ConsentKind.NOTICE.value,
            subscriber_id=notice.subscriber_id,
            email_hash=keys.address_key(notice.to_address),
            at=now,
            source="mail",
            detail={"notice": notice.kind},
        )


def next_due(conn: Connection, /) -> datetime | None:
    """When the earliest unclaimed notice waiting for a (first or next) attempt is due."""
    return conn.execute(
        select(func.min(notices.c.next_attempt_at)).where(
            notices.c.state.in_((QUEUED, DEFERRED)), notices.c.claimed_by.is_(None)
        )
    ).scalar()


def drop_for_subscriber(conn: Connection, subscriber_id: int, /) -> None:
    """Forget queued notices of a subscriber (withdrawn or erased); one in flight finishes."""
    conn.execute(
        delete(notices).where(
            (notices.c.subscriber_id == subscriber_id) & notices.c.state.in_((QUEUED, DEFERRED))
        )
    )


def forget_finished_before(conn: Connection, before: datetime, /) -> int:
    """Housekeeping: notices in an end state (sent, failed, unknown) older than ``before`` go."""
    return conn.execute(
        delete(notices).where(
            notices.c.state.in_((SENT, FAILED, UNKNOWN)) & (notices.c.created_at < before)
        )
    ).rowcount


def counts(conn: Connection, /) -> dict[str, int]:
    rows = conn.execute(select(notices.c.state, func.count()).group_by(notices.c.state)).all()
    return {state: count for state, count in rows}


def by_id(conn: Connection, notice_id: int, /) -> dict | None:
    row = conn.execute(select(notices).where(notices.c.id == notice_id)).mappings().first()
    return dict(row) if row else None

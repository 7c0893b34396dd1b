"""The queue of transactional notice mails: enqueue, claim what is due, record the outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from mailer.store.tables import notices

QUEUED = "queued"
SENDING = "sending"
DEFERRED = "deferred"
SENT = "sent"
FAILED = "failed"


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


def claim_due(
    conn: Connection, /, *, now: datetime, stale_before: datetime, limit: int
) -> list[dict]:
    """Mark up to ``limit`` due notices as sending and return them.

    A notice left in ``sending`` since before ``stale_before`` belonged to a process
    that died; it is claimed again (a second copy of a notice harms less than none).
    """
    due = (notices.c.state.in_((QUEUED, DEFERRED)) & (notices.c.next_attempt_at <= now)) | (
        (notices.c.state == SENDING) & (notices.c.claimed_at < stale_before)
    )
    ids = [
        row[0]
        for row in conn.execute(
            select(notices.c.id)
            .where(due)
            .order_by(notices.c.next_attempt_at, notices.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ]
    if not ids:
        return []
    conn.execute(
        update(notices)
        .where(notices.c.id.in_(ids))
        .values(state=SENDING, claimed_at=now, attempts=notices.c.attempts + 1)
    )
    rows = conn.execute(select(notices).where(notices.c.id.in_(ids)).order_by(notices.c.id))
    return [dict(row) for row in rows.mappings()]


def _in_flight(notice_id: int):
    # Only the claimed row: an outcome must never land on a row queued since under the same id.
    return (notices.c.id == notice_id) & (notices.c.state == SENDING)


def mark_sent(conn: Connection, notice_id: int, /, *, at: datetime) -> None:
    """Sent: the address is dropped from the queue row, it is no longer needed (제21조)."""
    conn.execute(
        update(notices)
        .where(_in_flight(notice_id))
        .values(state=SENT, sent_at=at, to_address=None, last_error=None)
    )


def mark_deferred(conn: Connection, notice_id: int, /, *, retry_at: datetime, error: str) -> None:
    conn.execute(
        update(notices)
        .where(_in_flight(notice_id))
        .values(state=DEFERRED, next_attempt_at=retry_at, last_error=error[:2000])
    )


def mark_failed(conn: Connection, notice_id: int, /, *, error: str) -> None:
    conn.execute(
        update(notices)
        .where(_in_flight(notice_id))
        .values(state=FAILED, to_address=None, last_error=error[:2000])
    )


def drop_for_subscriber(conn: Connection, subscriber_id: int, /) -> None:
    """Forget queued notices of a subscriber (withdrawn or erased); one in flight finishes."""
    conn.execute(
        delete(notices).where(
            (notices.c.subscriber_id == subscriber_id) & notices.c.state.in_((QUEUED, DEFERRED))
        )
    )


def forget_finished_before(conn: Connection, before: datetime, /) -> int:
    """Housekeeping: sent or failed notices older than ``before`` go."""
    return conn.execute(
        delete(notices).where(notices.c.state.in_((SENT, FAILED)) & (notices.c.created_at < before))
    ).rowcount


def counts(conn: Connection, /) -> dict[str, int]:
    rows = conn.execute(select(notices.c.state, func.count()).group_by(notices.c.state)).all()
    return {state: count for state, count in rows}


def by_id(conn: Connection, notice_id: int, /) -> dict | None:
    row = conn.execute(select(notices).where(notices.c.id == notice_id)).mappings().first()
    return dict(row) if row else None

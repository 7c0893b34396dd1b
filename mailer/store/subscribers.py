"""Subscriber rows: look-ups by address and token, lifecycle updates, batches for import and export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, update

from mailer.models import SubscriberStatus
from mailer.store.tables import deliveries, editions, subscribers
from mailer.store.upsert import insert_for

#: Statuses whose holders receive (active) or may resume (paused) the digest, i.e. consent stands.
CONSENTED = (SubscriberStatus.ACTIVE.value, SubscriberStatus.PAUSED.value)


def _one(conn: Connection, where, *, lock: bool = False) -> dict | None:
    query = select(subscribers).where(where)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def by_id(conn: Connection, subscriber_id: int, /, *, lock: bool = False) -> dict | None:
    return _one(conn, subscribers.c.id == subscriber_id, lock=lock)


_BY_EMAIL = select(subscribers).where(subscribers.c.email == bindparam("email"))


def by_email(conn: Connection, email: str, /, *, lock: bool = False) -> dict | None:
    query = _BY_EMAIL.with_for_update() if lock else _BY_EMAIL
    row = conn.execute(query, {"email": email}).mappings().first()
    return dict(row) if row else None


def by_token(conn: Connection, token: str, /, *, lock: bool = False) -> dict | None:
    return _one(conn, subscribers.c.token == token, lock=lock)


def by_confirm_hash(conn: Connection, token_hash: str, /, *, lock: bool = False) -> dict | None:
    return _one(conn, subscribers.c.confirm_token_hash == token_hash, lock=lock)


def insert_if_absent(conn: Connection, values: dict[str, Any], /) -> int | None:
    """Insert unless the address exists (a concurrent signup may have won); the new id or None."""
    statement = _INSERT_IF_ABSENT.get(conn.dialect.name)
    if statement is None:
        statement = _INSERT_IF_ABSENT[conn.dialect.name] = (
            insert_for(conn, subscribers)
            .on_conflict_do_nothing(index_elements=[subscribers.c.email])
            .returning(subscribers.c.id)
        )
    return conn.execute(statement, values).scalar_one_or_none()


_INSERT_IF_ABSENT: dict[str, object] = {}


def insert_many(conn: Connection, rows: list[dict[str, Any]], /) -> dict[str, int]:
    """Insert a batch, skipping addresses already present; returns email → id of rows inserted.

    An address inserted by a concurrent signup since the caller looked is skipped by
    the database (ON CONFLICT DO NOTHING) instead of aborting the whole batch.
    """
    if not rows:
        return {}
    statement = (
        insert_for(conn, subscribers)
        .on_conflict_do_nothing(index_elements=[subscribers.c.email])
        .returning(subscribers.c.id, subscribers.c.email)
    )
    return {row.email: row.id for row in conn.execute(statement, rows)}


def update_subscriber(conn: Connection, subscriber_id: int, /, **values: Any) -> None:
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(**values))


def delete_subscriber(conn: Connection, subscriber_id: int, /) -> None:
    conn.execute(delete(subscribers).where(subscribers.c.id == subscriber_id))


def existing_emails(conn: Connection, emails: list[str], /) -> set[str]:
    if not emails:
        return set()
    rows = conn.execute(select(subscribers.c.email).where(subscribers.c.email.in_(emails)))
    return {row[0] for row in rows}


def ids_where(conn: Connection, where, /, *, limit: int, lock: bool = False) -> list[int]:
    """Ids matching ``where``; with ``lock`` skip rows another process is working on."""
    query = select(subscribers.c.id).where(where).order_by(subscribers.c.id).limit(limit)
    if lock:
        query = query.with_for_update(skip_locked=True)
    return [row[0] for row in conn.execute(query)]


def due_for_reconfirmation(conn: Connection, now: datetime, /, *, limit: int) -> list[int]:
    where = subscribers.c.status.in_(CONSENTED) & (subscribers.c.reconfirm_due_at <= now)
    return ids_where(conn, where, limit=limit, lock=True)


def pending_created_before(conn: Connection, before: datetime, /, *, limit: int) -> list[int]:
    where = (subscribers.c.status == SubscriberStatus.PENDING.value) & (
        subscribers.c.created_at < before
    )
    return ids_where(conn, where, limit=limit, lock=True)


def unsubscribed_before(conn: Connection, before: datetime, /, *, limit: int) -> list[int]:
    where = (subscribers.c.status == SubscriberStatus.UNSUBSCRIBED.value) & (
        subscribers.c.unsubscribed_at < before
    )
    return ids_where(conn, where, limit=limit, lock=True)


def iter_subscribers(
    conn: Connection, /, *, statuses: list[str] | None = None, batch: int = 1000
) -> Iterator[dict]:
    """Every subscriber in id order, fetched in keyset pages so memory stays flat at any size."""
    last_id = 0
    while True:
        query = (
            select(subscribers)
            .where(subscribers.c.id > last_id)
            .order_by(subscribers.c.id)
            .limit(batch)
        )
        if statuses:
            query = query.where(subscribers.c.status.in_(statuses))
        rows = [dict(row) for row in conn.execute(query).mappings()]
        if not rows:
            return
        yield from rows
        last_id = rows[-1]["id"]


def count_by_status(conn: Connection, /) -> dict[str, int]:
    rows = conn.execute(
        select(subscribers.c.status, func.count()).group_by(subscribers.c.status)
    ).all()
    return {status: count for status, count in rows}


def editions_delivered(conn: Connection, subscriber_id: int, /) -> list[dict]:
    """Which editions were sent to this subscriber and when (for "download my data")."""
    rows = conn.execute(
        select(editions.c.number, editions.c.subject, deliveries.c.state, deliveries.c.sent_at)
        .join(editions, editions.c.id == deliveries.c.edition_id)
        .where(deliveries.c.subscriber_id == subscriber_id)
        .order_by(editions.c.number)
    ).mappings()
    return [dict(row) for row in rows]

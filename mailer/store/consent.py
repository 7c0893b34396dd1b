"""The consent ledger table: append events, read them back, scrub personal fields on erasure.

Rows are never deleted: the ledger is the proof of consent (개인정보보호법 제22조,
GDPR Art. 7(1)). An erasure keeps the event skeleton (kind, time, text version,
address hash) and blanks what identifies the person (IP, user agent).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from mailer.store.tables import consent_events

_INSERT_EVENT = insert(consent_events)


def record_event(
    conn: Connection,
    kind: str,
    /,
    *,
    email_hash: str,
    at: datetime,
    subscriber_id: int | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    source: str | None = None,
    consent_version: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    # Parameters rather than .values(): the statement stays one cached compiled form.
    conn.execute(
        _INSERT_EVENT,
        {
            "subscriber_id": subscriber_id,
            "email_hash": email_hash,
            "kind": kind,
            "at": at,
            "ip": (ip or None) and ip[:64],
            "user_agent": (user_agent or None) and user_agent[:500],
            "source": (source or None) and source[:100],
            "consent_version": consent_version,
            "detail": detail or {},
        },
    )


def record_many(conn: Connection, events: list[dict[str, Any]], /) -> None:
    """Bulk append (CSV import): each dict has the columns of :func:`record_event`."""
    if events:
        conn.execute(insert(consent_events), events)


def events_for(
    conn: Connection, /, *, email_hash: str | None = None, subscriber_id: int | None = None
) -> list[dict]:
    """Events of one address (by hash) or one subscriber, oldest first."""
    query = select(consent_events).order_by(consent_events.c.at, consent_events.c.id)
    if email_hash is not None:
        query = query.where(consent_events.c.email_hash == email_hash)
    if subscriber_id is not None:
        query = query.where(consent_events.c.subscriber_id == subscriber_id)
    return [dict(row) for row in conn.execute(query).mappings()]


def latest_consent_version(conn: Connection, subscriber_id: int, /) -> str | None:
    """The consent-text version of this subscriber's newest consent event."""
    return conn.execute(
        select(consent_events.c.consent_version)
        .where(
            (consent_events.c.subscriber_id == subscriber_id) & (consent_events.c.kind == "consent")
        )
        .order_by(consent_events.c.at.desc(), consent_events.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def scrub_personal_fields(conn: Connection, email_hash: str, /) -> None:
    """Blank IP and user agent of every event of this address (erasure)."""
    conn.execute(
        update(consent_events)
        .where(consent_events.c.email_hash == email_hash)
        .values(ip=None, user_agent=None, subscriber_id=None)
    )


def iter_events(conn: Connection, /, *, since: datetime | None = None, batch: int = 1000):
    """Every event in id order (ledger export), keyset-paged."""
    last_id = 0
    while True:
        query = (
            select(consent_events)
            .where(consent_events.c.id > last_id)
            .order_by(consent_events.c.id)
            .limit(batch)
        )
        if since is not None:
            query = query.where(consent_events.c.at >= since)
        rows = [dict(row) for row in conn.execute(query).mappings()]
        if not rows:
            return
        yield from rows
        last_id = rows[-1]["id"]

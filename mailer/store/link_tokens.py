"""Look-ups by link token hash: the current token of a subscriber, earlier tokens, data-access links.

Every look-up is by the SHA-256 of the token through a unique index, so the database
compares hashes, never the secret itself (no timing signal about the token).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from mailer.store.tables import link_tokens, subscribers


class Opens(enum.StrEnum):
    """What a stored link token opens."""

    PREFERENCES = "preferences"  # the preferences page and unsubscribe
    UNSUBSCRIBE = "unsubscribe"  # unsubscribe only (a token replaced at re-consent)
    DATA = "data"  # the data download and erasure, until it expires


def _subscriber(conn: Connection, where, *, lock: bool) -> dict | None:
    query = select(subscribers).where(where)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def subscriber_by_token_hash(
    conn: Connection,
    digest: str,
    /,
    *,
    opens: tuple[Opens, ...],
    now: datetime,
    lock: bool = False,
) -> dict | None:
    """The subscriber whose current token, or a stored token opening one of ``opens``, hashes to ``digest``."""
    if Opens.PREFERENCES in opens or Opens.UNSUBSCRIBE in opens:
        row = _subscriber(conn, subscribers.c.token_hash == digest, lock=lock)
        if row is not None:
            return row
    stored = conn.execute(
        select(link_tokens.c.subscriber_id, link_tokens.c.expires_at).where(
            link_tokens.c.token_hash == digest, link_tokens.c.opens.in_([str(o) for o in opens])
        )
    ).first()
    if stored is None or (stored.expires_at is not None and stored.expires_at <= now):
        return None
    row = _subscriber(conn, subscribers.c.id == stored.subscriber_id, lock=lock)
    if row is not None:
        row["link_expires_at"] = stored.expires_at
    return row


def add_token(
    conn: Connection,
    subscriber_id: int,
    digest: str,
    /,
    *,
    opens: Opens,
    now: datetime,
    expires_at: datetime | None = None,
) -> None:
    conn.execute(
        insert(link_tokens).values(
            token_hash=digest,
            subscriber_id=subscriber_id,
            opens=str(opens),
            created_at=now,
            expires_at=expires_at,
        )
    )


def replace_current_token(
    conn: Connection, row: dict, /, *, token_seed: str, token_hash: str, now: datetime
) -> None:
    """Give the subscriber a new current token; every earlier one keeps only unsubscribe.

    Unsubscribe links in mail already sent must keep working (정보통신망법 제50조);
    what a forwarded old mail could open beyond that ends here.
    """
    conn.execute(
        update(link_tokens)
        .where(
            link_tokens.c.subscriber_id == row["id"],
            link_tokens.c.opens == str(Opens.PREFERENCES),
        )
        .values(opens=str(Opens.UNSUBSCRIBE))
    )
    add_token(conn, row["id"], row["token_hash"], opens=Opens.UNSUBSCRIBE, now=now)
    conn.execute(
        update(subscribers)
        .where(subscribers.c.id == row["id"])
        .values(token_seed=token_seed, token_hash=token_hash)
    )


def forget_expired(conn: Connection, now: datetime, /) -> None:
    """Housekeeping: data-access links past their time go."""
    conn.execute(
        delete(link_tokens).where(
            link_tokens.c.expires_at.is_not(None), link_tokens.c.expires_at <= now
        )
    )

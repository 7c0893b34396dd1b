"""Suppression entries: hashed addresses that must never be mailed (unsubscribed, bounced, erased).

Only the address key (``IdentityKeys.address_key``: an HMAC with the server secret of the
address's SHA-256) is stored, so an erased person's address is gone while a later import
or signup of it is still recognised (개인정보보호법 제21조·제36조), and nobody holding
only the database can confirm a guessed address (issue 11, item 9). The column keeps
its name ``email_hash``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from mailer.store.tables import suppressions
from mailer.store.upsert import insert_for


def suppress(conn: Connection, email_hash: str, /, *, reason: str, at: datetime) -> None:
    """Add or update the entry; the newest reason wins (erased outranks unsubscribed in time)."""
    statement = insert_for(conn, suppressions).values(email_hash=email_hash, reason=reason, at=at)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[suppressions.c.email_hash], set_={"reason": reason, "at": at}
        )
    )


def suppress_new(
    conn: Connection, email_hashes: list[str], /, *, reason: str, at: datetime
) -> None:
    """Add entries for hashes not yet suppressed; an existing entry keeps its reason and time
    (a bounce must not overwrite "erased" or "unsubscribed")."""
    if not email_hashes:
        return
    conn.execute(
        insert_for(conn, suppressions).on_conflict_do_nothing(
            index_elements=[suppressions.c.email_hash]
        ),
        [{"email_hash": value, "reason": reason, "at": at} for value in email_hashes],
    )


def lift(conn: Connection, email_hash: str, /) -> None:
    """Remove the entry: the person gave fresh, confirmed consent."""
    conn.execute(delete(suppressions).where(suppressions.c.email_hash == email_hash))


def suppression_reason(conn: Connection, email_hash: str, /) -> str | None:
    return conn.execute(
        select(suppressions.c.reason).where(suppressions.c.email_hash == email_hash)
    ).scalar_one_or_none()


def suppressed_among(conn: Connection, email_hashes: list[str], /) -> set[str]:
    """Which of these hashes are suppressed (one query for a batch of an import)."""
    if not email_hashes:
        return set()
    rows = conn.execute(
        select(suppressions.c.email_hash).where(suppressions.c.email_hash.in_(email_hashes))
    )
    return {row[0] for row in rows}

"""Named leases: one holder at a time, until the lease expires or is released.

A lease is how two scheduler processes agree that only one of them does a piece of
work that is not keyed by a fire time (polling the feeds). Expiry, not a lock held
on a connection, ends a lease whose holder died.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from mailer.store.tables import leases
from mailer.store.upsert import insert_unless_exists


def acquire_lease(
    conn: Connection, name: str, /, *, holder: str, now: datetime, expires_at: datetime
) -> bool:
    """Take the lease if it is free, expired or already ours; True on success."""
    taken = conn.execute(
        update(leases)
        .where(leases.c.name == name, (leases.c.expires_at <= now) | (leases.c.holder == holder))
        .values(holder=holder, expires_at=expires_at)
    )
    if taken.rowcount == 1:
        return True
    return insert_unless_exists(conn, leases, name=name, holder=holder, expires_at=expires_at)


def renew_lease(conn: Connection, name: str, /, *, holder: str, expires_at: datetime) -> bool:
    """Push our lease's expiry out; False when it is no longer ours."""
    result = conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.holder == holder)
        .values(expires_at=expires_at)
    )
    return result.rowcount == 1


def release_lease(conn: Connection, name: str, /, *, holder: str) -> bool:
    """Give the lease up (only if it is ours)."""
    result = conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))
    return result.rowcount == 1


def get_lease(conn: Connection, name: str, /) -> dict | None:
    row = conn.execute(select(leases).where(leases.c.name == name)).mappings().first()
    return dict(row) if row else None

"""Fixed-window counters in the database, so that several web processes share one limit."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, case, delete, literal

from mailer.store.tables import UtcDateTime, rate_limits
from mailer.store.upsert import insert_for


def hit(conn: Connection, key: str, /, *, now: datetime, window: timedelta) -> int:
    """Count one event for ``key`` and return the count in the current window (1 = first).

    One atomic INSERT … ON CONFLICT DO UPDATE … RETURNING: two processes counting the
    same key at once each see a distinct number. A window older than ``window``
    starts again at 1.
    """
    cutoff = literal(now - window, UtcDateTime())
    expired = rate_limits.c.window_start <= cutoff
    statement = insert_for(conn, rate_limits).values(key=key, window_start=now, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=[rate_limits.c.key],
        set_={
            # Right-hand sides see the row as it was before this update (SQL semantics).
            "count": case((expired, 1), else_=rate_limits.c.count + 1),
            "window_start": case(
                (expired, literal(now, UtcDateTime())), else_=rate_limits.c.window_start
            ),
        },
    ).returning(rate_limits.c.count)
    return conn.execute(statement).scalar_one()


def forget_before(conn: Connection, before: datetime, /) -> int:
    """Drop windows that ended before ``before`` (housekeeping)."""
    return conn.execute(delete(rate_limits).where(rate_limits.c.window_start < before)).rowcount

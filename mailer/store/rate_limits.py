"""Fixed-window counters in the database, so that several web processes share one limit."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, case, delete

from mailer.store.tables import UtcDateTime, rate_limits
from mailer.store.upsert import insert_for


def _hit_statement(conn: Connection):
    """Built once per dialect: constructing this upsert costs more than running it."""
    cached = _STATEMENTS.get(conn.dialect.name)
    if cached is not None:
        return cached
    now = bindparam("now", type_=UtcDateTime())
    expired = rate_limits.c.window_start <= bindparam("cutoff", type_=UtcDateTime())
    statement = (
        insert_for(conn, rate_limits)
        .values(key=bindparam("key"), window_start=now, count=1)
        .on_conflict_do_update(
            index_elements=[rate_limits.c.key],
            set_={
                # Right-hand sides see the row as it was before this update (SQL semantics).
                "count": case((expired, 1), else_=rate_limits.c.count + 1),
                "window_start": case((expired, now), else_=rate_limits.c.window_start),
            },
        )
        .returning(rate_limits.c.count)
    )
    _STATEMENTS[conn.dialect.name] = statement
    return statement


_STATEMENTS: dict[str, object] = {}


def hit(conn: Connection, key: str, /, *, now: datetime, window: timedelta) -> int:
    """Count one event for ``key`` and return the count in the current window (1 = first).

    One atomic INSERT … ON CONFLICT DO UPDATE … RETURNING: two processes counting the
    same key at once each see a distinct number. A window older than ``window``
    starts again at 1.
    """
    parameters = {"key": key, "now": now, "cutoff": now - window}
    return conn.execute(_hit_statement(conn), parameters).scalar_one()


def forget_before(conn: Connection, before: datetime, /) -> int:
    """Drop windows that ended before ``before`` (housekeeping)."""
    return conn.execute(delete(rate_limits).where(rate_limits.c.window_start < before)).rowcount

"""Heartbeat rows: each long-running process says every few seconds that it is alive."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from mailer.store.tables import heartbeats


def record_heartbeat(
    conn: Connection,
    instance: str,
    /,
    *,
    role: str,
    host: str,
    pid: int,
    started_at: datetime,
    now: datetime,
) -> bool:
    """Insert or refresh this instance's row (an instance id belongs to one process only).

    True when the row was there and refreshed; False when it had to be inserted (new, or
    deleted meanwhile because the instance had been judged dead).
    """
    refreshed = conn.execute(
        update(heartbeats).where(heartbeats.c.instance == instance).values(seen_at=now)
    )
    if refreshed.rowcount == 1:
        return True
    conn.execute(
        insert(heartbeats).values(
            instance=instance, role=role, host=host, pid=pid, started_at=started_at, seen_at=now
        )
    )
    return False


def remove_heartbeat(conn: Connection, instance: str, /) -> None:
    """Forget an instance that stopped cleanly."""
    conn.execute(delete(heartbeats).where(heartbeats.c.instance == instance))


def latest_heartbeat(conn: Connection, /, *, role: str) -> dict | None:
    """The most recently seen instance of a role, or None if none ever beat."""
    row = (
        conn.execute(
            select(heartbeats)
            .where(heartbeats.c.role == role)
            .order_by(heartbeats.c.seen_at.desc())
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def live_heartbeats(conn: Connection, /, *, role: str, since: datetime) -> list[dict]:
    """Instances of a role seen at or after ``since``."""
    rows = conn.execute(
        select(heartbeats)
        .where(heartbeats.c.role == role, heartbeats.c.seen_at >= since)
        .order_by(heartbeats.c.started_at)
    ).mappings()
    return [dict(row) for row in rows]


def prune_heartbeats(conn: Connection, /, *, before: datetime) -> int:
    """Delete rows of processes silent since ``before`` (they died long ago)."""
    return conn.execute(delete(heartbeats).where(heartbeats.c.seen_at < before)).rowcount

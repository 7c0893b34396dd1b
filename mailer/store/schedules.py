"""Schedule rows: the source of truth the scheduler reads (name, kind, cron, timezone, enabled)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from mailer.store.tables import schedules


def ensure_schedule(
    conn: Connection, name: str, /, *, kind: str, cron: str, timezone: str, grace_seconds: int
) -> bool:
    """Insert the schedule unless one of that name exists (staff edits win); True if inserted."""
    if conn.execute(select(schedules.c.id).where(schedules.c.name == name)).first():
        return False
    conn.execute(
        insert(schedules).values(
            name=name,
            kind=kind,
            cron=cron,
            timezone=timezone,
            enabled=True,
            grace_seconds=grace_seconds,
            updated_at=datetime.now(UTC),
        )
    )
    return True


def list_schedules(conn: Connection) -> list[dict]:
    rows = conn.execute(select(schedules).order_by(schedules.c.name)).mappings()
    return [dict(row) for row in rows]

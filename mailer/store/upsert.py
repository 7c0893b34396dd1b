"""Dialect-specific INSERT … ON CONFLICT, for the two backends we run on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(conn: Connection, table: Table, /):
    """An INSERT construct that offers ``on_conflict_do_*`` on SQLite and PostgreSQL alike."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_unless_exists(conn: Connection, table: Table, /, **values: Any) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when this call inserted the row.

    Both backends resolve the conflict inside the database, so two processes racing
    for the same unique key get exactly one winner and no aborted transaction.
    """
    statement = (
        insert_for(conn, table)
        .values(**values)
        .on_conflict_do_nothing()
        # RETURNING, not rowcount: on PostgreSQL SQLAlchemy fetches the new key with an
        # implicit RETURNING and psycopg then reports rowcount -1 whether or not a row
        # was inserted; a returned row is unambiguous on both backends.
        .returning(*table.primary_key.columns)
    )
    return conn.execute(statement).first() is not None

"""Statements that SQLite and PostgreSQL both support, built with each dialect's own construct."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_unless_exists(conn: Connection, table: Table, /, **values: Any) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when this call inserted the row.

    Both backends resolve the conflict inside the database, so two processes racing
    for the same unique key get exactly one winner and no aborted transaction.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .values(**values)
        .on_conflict_do_nothing()
        # RETURNING, not rowcount: on PostgreSQL SQLAlchemy fetches the new key with an
        # implicit RETURNING and psycopg then reports rowcount -1 whether or not a row
        # was inserted; a returned row is unambiguous on both backends.
        .returning(*table.primary_key.columns)
    )
    return conn.execute(statement).first() is not None

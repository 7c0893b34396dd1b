"""Dialect-specific INSERT … ON CONFLICT, for the two backends we run on."""

from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(conn: Connection, table: Table, /):
    """An INSERT construct that offers ``on_conflict_do_*`` on SQLite and PostgreSQL alike."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)

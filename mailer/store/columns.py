"""The schema's shared parts: the one ``MetaData`` (with its constraint names), the UTC timestamp type and the id type.

Every table module (``tables``, ``staff_tables``) defines its tables on this one
``metadata``, so foreign keys between them resolve and Alembic sees one schema.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names so that migrations can refer to them on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator):
    """A timestamp that goes in as aware UTC and comes out aware UTC on every backend.

    SQLite has no time zone type and hands back naive values; this keeps the rest
    of the code free of "is it naive?" checks.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def timestamp(name: str, **kw) -> Column:
    """A ``UtcDateTime`` column."""
    return Column(name, UtcDateTime(), **kw)


# An integer primary key that is BIGINT on PostgreSQL but stays INTEGER on SQLite,
# where only "INTEGER PRIMARY KEY" is an alias of the rowid (autoincrement).
BigId = BigInteger().with_variant(Integer(), "sqlite")

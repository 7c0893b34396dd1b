"""Migration 0013 (SQLite and PostgreSQL): the old unused template table's rows carry over, one active per name; down and up again work."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import DateTime, Integer, String, Text, column, insert, inspect, select, table
from sqlalchemy.exc import IntegrityError

from mailer.store import db
from mailer.store import template_versions as store
from mailer.store.db import write_transaction
from mailer.store.tables import template_versions

CREATED = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

#: template_versions as revision 0001 made it.
OLD_VERSIONS = table(
    "template_versions",
    column("id", Integer),
    column("name", String),
    column("version", Integer),
    column("body", Text),
    column("created_by", String),
    column("created_at", DateTime(timezone=True)),
)


def test_migration_0013_replaces_the_template_table_and_goes_down_again(empty_database_url):
    engine = db.make_engine(empty_database_url)
    try:
        db.upgrade(engine, to="0012")
        stored = CREATED if engine.dialect.name != "sqlite" else CREATED.replace(tzinfo=None)
        with write_transaction(engine) as conn:
            for version, body in ((1, "첫 판"), (2, "둘째 판")):
                conn.execute(
                    insert(OLD_VERSIONS).values(
                        name="digest.txt.j2",
                        version=version,
                        body=body,
                        created_by="staff@example.kr",
                        created_at=stored,
                    )
                )
        db.upgrade(engine)
        with engine.connect() as conn:
            rows = store.history(conn, "digest.txt.j2")
        assert [(r.number, r.source, r.active, r.author) for r in rows] == [
            (2, "둘째 판", True, "staff@example.kr"),
            (1, "첫 판", False, "staff@example.kr"),
        ]
        assert rows[0].created_at == CREATED
        edition_columns = {c["name"] for c in inspect(engine).get_columns("editions")}
        assert "template_versions" in edition_columns

        # The database keeps one active version per name, whatever the code does.
        with pytest.raises(IntegrityError), write_transaction(engine) as conn:
            conn.execute(
                insert(template_versions).values(
                    name="digest.txt.j2",
                    number=3,
                    source="x",
                    note="",
                    origin="editor",
                    created_at=CREATED,
                    active=True,
                )
            )

        command.downgrade(db.alembic_config(engine), "0012")
        edition_columns = {c["name"] for c in inspect(engine).get_columns("editions")}
        assert "template_versions" not in edition_columns
        with engine.connect() as conn:
            old = conn.execute(
                select(OLD_VERSIONS.c.version, OLD_VERSIONS.c.body).order_by("version")
            ).all()
        assert [tuple(row) for row in old] == [(1, "첫 판"), (2, "둘째 판")]
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()

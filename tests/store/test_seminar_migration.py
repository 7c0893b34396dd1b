"""Migration 0014 (SQLite and PostgreSQL): the seminar_versions table comes, takes a version, and goes again."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect

from mailer.store import db
from mailer.store import seminar_versions as store
from mailer.store.db import write_transaction

NOW = datetime(2027, 2, 8, 1, 0, tzinfo=UTC)


def test_migration_0014_adds_the_seminar_versions_and_goes_down_again(empty_database_url):
    engine = db.make_engine(empty_database_url)
    try:
        db.upgrade(engine, to="0013")
        assert "seminar_versions" not in inspect(engine).get_table_names()
        db.upgrade(engine, to="0014")
        columns = {c["name"] for c in inspect(engine).get_columns("seminar_versions")}
        assert columns == {"id", "number", "document", "author", "note", "created_at", "active"}
        document = {"series": {"title": "세미나"}, "sessions": [], "sender": {"phone": "070"}}
        with write_transaction(engine) as conn:
            assert store.add_version(conn, document, author="kim@example.kr", note="", now=NOW) == 1
            assert store.add_version(conn, document, author="kim@example.kr", note="", now=NOW) == 2
        with engine.connect() as conn:
            active = store.active_version(conn)
            assert (active["number"], active["document"], active["created_at"]) == (
                2,
                document,
                NOW,
            )
            assert [row["active"] for row in store.list_versions(conn)] == [True, False]
        command.downgrade(db.alembic_config(engine), "0013")
        assert "seminar_versions" not in inspect(engine).get_table_names()
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()

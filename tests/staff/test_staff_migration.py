"""Migrations 0011 and 0012 (SQLite and PostgreSQL): a staff row from before keeps its values; sessions and the audit address; down and up again work."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Boolean, DateTime, Integer, String, column, insert, inspect, select, table

from mailer.store import db
from mailer.store.db import write_transaction
from mailer.store.tables import staff_users

CREATED = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

#: staff_users as revision 0010 had it.
OLD_STAFF = table(
    "staff_users",
    column("email", String),
    column("password_hash", String),
    column("role", String),
    column("disabled", Boolean),
    column("created_at", DateTime(timezone=True)),
    column("id", Integer),
)


def test_upgrade_keeps_an_old_staff_row_and_downgrade_undoes_it(empty_database_url):
    engine = db.make_engine(empty_database_url)
    try:
        db.upgrade(engine, to="0010")
        stored = CREATED if engine.dialect.name != "sqlite" else CREATED.replace(tzinfo=None)
        with write_transaction(engine) as conn:
            conn.execute(
                insert(OLD_STAFF).values(
                    email="old@example.kr", role="admin", disabled=False, created_at=stored
                )
            )
        db.upgrade(engine)
        with engine.connect() as conn:
            row = conn.execute(select(staff_users)).mappings().one()
        assert (row["email"], row["role"], row["password_hash"]) == (
            "old@example.kr",
            "admin",
            None,
        )
        assert row["updated_at"] == row["created_at"] == CREATED
        assert "staff_password_links" in inspect(engine).get_table_names()

        command.downgrade(db.alembic_config(engine), "0010")
        assert "staff_password_links" not in inspect(engine).get_table_names()
        columns = {c["name"] for c in inspect(engine).get_columns("staff_users")}
        assert "updated_at" not in columns and "password_set_at" not in columns
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()


def test_migration_0012_adds_sessions_and_the_audit_address_and_goes_down_again(
    empty_database_url,
):
    engine = db.make_engine(empty_database_url)
    try:
        db.upgrade(engine, to="0011")
        assert "staff_sessions" not in inspect(engine).get_table_names()
        db.upgrade(engine)
        assert "staff_sessions" in inspect(engine).get_table_names()
        audit_columns = {c["name"] for c in inspect(engine).get_columns("audit_log")}
        assert "client_address" in audit_columns
        command.downgrade(db.alembic_config(engine), "0011")
        assert "staff_sessions" not in inspect(engine).get_table_names()
        audit_columns = {c["name"] for c in inspect(engine).get_columns("audit_log")}
        assert "client_address" not in audit_columns
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()


def test_migration_0015_indexes_the_audit_filters_and_goes_down_again(empty_database_url):
    engine = db.make_engine(empty_database_url)
    wanted = {"ix_audit_log_at", "ix_audit_log_actor_at", "ix_audit_log_client_address_at"}

    def indexes() -> set[str]:
        return {index["name"] for index in inspect(engine).get_indexes("audit_log")}

    try:
        db.upgrade(engine, to="0014")
        assert not wanted & indexes()
        db.upgrade(engine)
        assert wanted <= indexes() and "ix_audit_log_action_at" in indexes()
        command.downgrade(db.alembic_config(engine), "0014")
        assert not wanted & indexes() and "ix_audit_log_action_at" in indexes()
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()

"""Storage: migrations are linear and idempotent, init seeds once, SQLite runs in WAL with FKs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, insert, inspect, select, text

from mailer.seed import DEFAULT_SCHEDULES, initialise
from mailer.store import db
from mailer.store.db import write_transaction
from mailer.store.tables import metadata, schedules, subscribers
from tests.helpers import TEST_KEYS


def test_migrations_form_one_linear_chain():
    script = ScriptDirectory.from_config(db.alembic_config_without_engine())
    assert len(script.get_heads()) == 1
    revisions = list(script.walk_revisions())
    assert sum(1 for revision in revisions if revision.down_revision is None) == 1
    assert all(not isinstance(r.down_revision, tuple) for r in revisions), "no merge points"


def test_migrated_schema_has_every_table(context):
    names = set(inspect(context.engine).get_table_names())
    assert set(metadata.tables) <= names


def test_init_twice_changes_nothing(context):
    first = initialise(context)
    assert {f"schedule {name}" for name, *_ in DEFAULT_SCHEDULES} <= set(first.seeded)
    with context.engine.connect() as conn:
        before = conn.execute(select(schedules).order_by(schedules.c.name)).all()
    second = initialise(context)
    assert not second.changed
    with context.engine.connect() as conn:
        after = conn.execute(select(schedules).order_by(schedules.c.name)).all()
    assert before == after


def test_init_keeps_staff_edits_and_existing_rows(context):
    initialise(context)
    now = datetime.now(UTC)
    with write_transaction(context.engine) as conn:
        conn.execute(
            schedules.update().where(schedules.c.name == "digest").values(cron="0 8 * * tue")
        )
        conn.execute(
            insert(subscribers).values(
                email="reader@example.kr", status="active", **TEST_KEYS.new_link(), created_at=now
            )
        )
    initialise(context)
    with context.engine.connect() as conn:
        cron = conn.execute(select(schedules.c.cron).where(schedules.c.name == "digest")).scalar()
        count = conn.execute(select(func.count()).select_from(subscribers)).scalar()
    assert cron == "0 8 * * tue"
    assert count == 1


def test_timestamps_come_back_aware_utc(context):
    seoul = timezone(timedelta(hours=9))
    created = datetime(2026, 12, 7, 9, 0, tzinfo=seoul)
    with write_transaction(context.engine) as conn:
        conn.execute(
            insert(subscribers).values(
                email="a@example.kr", status="active", **TEST_KEYS.new_link(), created_at=created
            )
        )
    with context.engine.connect() as conn:
        value = conn.execute(select(subscribers.c.created_at)).scalar_one()
    assert value == created
    assert value.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(context):
    with pytest.raises(Exception, match="naive datetime"):
        with write_transaction(context.engine) as conn:
            conn.execute(
                insert(subscribers).values(
                    email="b@example.kr",
                    status="active",
                    **TEST_KEYS.new_link(),
                    created_at=datetime.now(),
                )
            )


def test_sqlite_connection_settings(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'nested' / 'm.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == db.SQLITE_BUSY_TIMEOUT_MS
    engine.dispose()


def test_check_database_reports_an_unmigrated_schema(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(db.StoreError, match="run `mailer init`"):
        db.check_database(engine)
    db.upgrade(engine)
    db.check_database(engine)
    engine.dispose()


def test_foreign_keys_are_enforced(context):
    from sqlalchemy.exc import IntegrityError

    from mailer.store.tables import deliveries

    with pytest.raises(IntegrityError):
        with write_transaction(context.engine) as conn:
            conn.execute(
                insert(deliveries).values(
                    edition_id=999, subscriber_id=999, state="queued", updated_at=datetime.now(UTC)
                )
            )

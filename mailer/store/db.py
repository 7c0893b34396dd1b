"""Engine construction and schema migration for SQLite and PostgreSQL.

Alembic is imported inside the migration functions only: every process builds an
engine, but only ``init`` and the schema checks need Alembic (about 0.3 s to import).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from mailer.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Milliseconds a SQLite writer waits for the lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 15_000


def normalise_url(url: str) -> str:
    """Map ``postgresql://`` to the psycopg 3 driver, which is the one we install."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.removeprefix("postgres://")
    return url


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine with the connection settings every process needs."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take control so that a
        # writer holds the lock from the start of its transaction (no lock upgrades).
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Autocommit at the driver level: SQLAlchemy's "begin" event issues BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config(engine: Engine, *, secret: str | None = None) -> Config:
    config = alembic_config_without_engine()
    config.attributes["engine"] = engine
    # Migration 0008 converts stored identifiers with keys derived from the secret.
    config.attributes["secret"] = secret
    return config


def upgrade(
    engine: Engine, *, secret: str | None = None, to: str = "head"
) -> tuple[str | None, str]:
    """Bring the schema to revision ``to`` (the newest); returns (before, after) revisions.

    ``secret`` is MAILER_SECRET_KEY: a database with subscribers, suppressions or
    ledger entries written before 0008 cannot be upgraded without it.
    """
    from alembic import command

    before = current_revision(engine)
    try:
        command.upgrade(alembic_config(engine, secret=secret), to)
    except SQLAlchemyError as exc:
        raise StoreError(f"database migration failed: {exc.__class__.__name__}: {exc}") from exc
    return before, current_revision(engine) or ""


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config_without_engine()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def alembic_config_without_engine() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def check_database(engine: Engine) -> None:
    """Raise StoreError unless the database answers and its schema is current."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        raise StoreError(f"database unreachable: {exc.__class__.__name__}") from exc
    if revision != head_revision():
        raise StoreError(
            f"schema at {revision or 'nothing'}, expected {head_revision()}; run `mailer init`"
        )

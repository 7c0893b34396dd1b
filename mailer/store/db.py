"""Engine construction, the read/write transaction rule, and schema migration for SQLite and PostgreSQL.

The rule (design §4 "Security rules"): a transaction only reads unless it was opened
as a write. ``engine.connect()`` gives a reading connection — on SQLite its
transactions start with a deferred ``BEGIN`` and run with ``PRAGMA query_only``, so in
WAL mode they never take or wait for the one write lock, and a write slipped into one
fails at once instead of upgrading its lock under load. :func:`write_transaction` is
the one way to write: on SQLite it starts with ``BEGIN IMMEDIATE``, so a writer holds
the lock from its first statement (no lock upgrade, no deadlock between two readers
turned writers). A write transaction must stay short: no rendering, MIME building,
file parsing or network I/O inside it — do those before it opens or after it commits.

Alembic is imported inside the migration functions only: every process builds an
engine, but only ``init`` and the schema checks need Alembic (about 0.3 s to import).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from mailer.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Milliseconds a SQLite writer waits for the lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 15_000

#: The execution option that makes a connection's transactions write transactions.
WRITE_OPTION = "mailer_write"


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
        # pysqlite's own transaction handling is off (see _sqlite_pragmas): this listener
        # opens every transaction, as a read or as a write (the module docstring's rule).
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "handle_error", _explain_read_only)
        _WRITER_TURNS[engine] = threading.RLock()
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


def _sqlite_begin(conn: Connection) -> None:
    write = bool(conn.get_execution_options().get(WRITE_OPTION))
    # query_only is a property of the driver connection, which the pool hands to reads
    # and writes in turn: set it only when it changes (its state lives in the pool's info).
    info = conn.connection.info
    if info.get("query_only") != (not write):
        conn.exec_driver_sql(f"PRAGMA query_only={0 if write else 1}")
        info["query_only"] = not write
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class WriteOutsideWriteTransaction(RuntimeError):
    """A statement wrote in a reading transaction: the code must use write_transaction."""


def _explain_read_only(context) -> None:
    # query_only's own message ("attempt to write a readonly database") does not say
    # what to change; a programming error must not pass for a bad row either.
    if "attempt to write a readonly database" in str(context.original_exception):
        write = context.connection is not None and context.connection.get_execution_options().get(
            WRITE_OPTION
        )
        if not write:
            raise WriteOutsideWriteTransaction(
                "a write in a reading transaction: open it with "
                "mailer.store.db.write_transaction (see that module's docstring)"
            ) from context.original_exception


def writing(conn: Connection, /) -> Connection:
    """Mark ``conn`` (not yet in a transaction) so that its transactions are write transactions.

    For a connection kept open across transactions (a delivery worker's own); a single
    write uses :func:`write_transaction`.
    """
    return conn.execution_options(**{WRITE_OPTION: True})


def reading(conn: Connection, /) -> Connection:
    """Undo :func:`writing`: the next transaction of ``conn`` only reads."""
    return conn.execution_options(**{WRITE_OPTION: False})


#: One lock per SQLite engine that this process's writers take in turn (see writer_turn).
_WRITER_TURNS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


def writer_turn(engine: Engine, /):
    """Held around each write transaction of this process on SQLite (a no-op on PostgreSQL).

    SQLite has one write lock; writers of one process that meet at ``BEGIN IMMEDIATE``
    would wait for each other in SQLite's busy handler, whose back-off sleeps grow to
    100 ms — a burst of signups then waits seconds. Queued on this lock they go in
    order, each the moment the one before commits; only another process's writer is
    waited for in the busy handler. Readers never take it.
    """
    turn = _WRITER_TURNS.get(engine)
    return turn if turn is not None else nullcontext()


@contextmanager
def write_transaction(engine: Engine, /) -> Iterator[Connection]:
    """``with write_transaction(engine) as conn:`` — one short write transaction, committed at the end.

    The one way to write (module docstring); rolled back if the block raises.
    """
    with engine.connect() as conn, writer_turn(engine):
        writing(conn)
        with conn.begin():
            yield conn


#: Seconds /healthz waits for the write lock before it calls the database degraded.
WRITE_PROBE_SECONDS = 1.5


def probe_write_lock(engine: Engine, /, *, timeout: float = WRITE_PROBE_SECONDS) -> str | None:
    """Whether a writer could start now: None if so, else what stands in the way.

    SQLite: take the write lock with a busy timeout of ``timeout`` (not the writers'
    15 s) and give it back at once, writing nothing. PostgreSQL has no database-wide
    write lock; there the probe asks whether the server accepts writes at all (a
    standby or a read-only database does not).
    """
    with engine.connect() as conn:
        if engine.dialect.name != "sqlite":
            read_only = conn.exec_driver_sql("SHOW transaction_read_only").scalar()
            return "database is read-only" if read_only == "on" else None
        # On the driver connection itself: SQLAlchemy's begin would wait the full busy
        # timeout, and the probe must say "busy" long before a writer gives up.
        driver = conn.connection.dbapi_connection
        assert driver is not None
        started = time.monotonic()
        cursor = driver.cursor()
        try:
            cursor.execute("PRAGMA query_only=0")  # BEGIN IMMEDIATE is refused under query_only
            conn.connection.info["query_only"] = False
            cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            try:
                cursor.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                waited = time.monotonic() - started
                return f"write lock busy (not free within {waited:.1f} s)"
            cursor.execute("ROLLBACK")
        finally:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()
        return None


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

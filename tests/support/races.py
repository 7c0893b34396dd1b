"""Real concurrency for race tests: a writer that wins a race, a database held until released.

Both make the interleaving they test happen, and say when it did not, instead of hoping
that two threads overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event

from mailer.store.db import writing

#: PostgreSQL: sessions on this database (not another xdist worker's) waiting for a lock —
#: a table lock or another transaction's row (a unique key), whose pg_locks row has no database.
WAITING_FOR_A_LOCK = (
    "SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid)"
    " WHERE NOT granted AND datname = current_database()"
)


@contextmanager
def writer_racing_insert(
    engine: Engine, table: str, action: Callable[[], object]
) -> Iterator[list[object]]:
    """Run ``action`` on another thread right before the next ``INSERT INTO table``.

    On PostgreSQL the other transaction commits before the INSERT runs (a lost race,
    as between two processes). On SQLite the INSERT's transaction already holds the
    one write lock (and this process's writer turn, ``store.db.writer_turn``), so the
    other writer waits for it: the race cannot happen there, but the INSERT goes on only
    once the other writer has its connection and is waiting (both in flight at once).
    Yields a list that receives ``action``'s result; its exception is re-raised.
    """
    threads: list[threading.Thread] = []
    outcome: list[object] = []
    errors: list[BaseException] = []
    racer_at_database = threading.Event()

    def run() -> None:
        try:
            outcome.append(action())
        except BaseException as exc:  # noqa: BLE001 — handed to the test thread
            errors.append(exc)

    def checked_out(*_args) -> None:
        if threads and threading.current_thread() is threads[0]:
            racer_at_database.set()

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        checked_out()
        if threads or not statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()}"):
            return
        thread = threading.Thread(target=run)
        threads.append(thread)
        thread.start()
        if engine.dialect.name == "postgresql":
            thread.join(10)
            assert not thread.is_alive(), "the racing writer did not finish"
        else:
            assert racer_at_database.wait(10), "the racing writer never reached the database"

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "checkout", checked_out)
    try:
        yield outcome
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "checkout", checked_out)
        for thread in threads:
            thread.join(30)
    assert threads, f"no INSERT INTO {table} happened"
    if errors:
        raise errors[0]


class HeldDatabase:
    """Another writer holds the database until :meth:`release`: on SQLite its one write lock,
    on PostgreSQL an exclusive lock on ``table``.

    :meth:`wait_for_waiter` returns once some other session waits for that lock, so a
    test can prove that something was in flight (waiting) while it did something else.
    The holder gives up after ``hold_at_most`` seconds (less than SQLite's busy timeout)
    and says so in :attr:`gave_up`: a test that never got to release it was stuck.
    """

    def __init__(self, engine: Engine, table: str, *, hold_at_most: float = 10.0) -> None:
        self.engine = engine
        self.table = table
        self.hold_at_most = hold_at_most
        self.gave_up = False
        self._locked = threading.Event()
        self._release = threading.Event()
        self._waiter = threading.Event()
        self._holder = threading.Thread(target=self._hold, name="held-database")
        self._holder_id: int | None = None
        self._errors: list[BaseException] = []

    def __enter__(self) -> HeldDatabase:
        event.listen(self.engine, "before_cursor_execute", self._statement)
        self._holder.start()
        assert self._locked.wait(30), f"could not lock {self.table}: {self._errors}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
        self._holder.join(30)
        event.remove(self.engine, "before_cursor_execute", self._statement)
        if self._errors:
            raise self._errors[0]

    def release(self) -> None:
        self._release.set()

    def wait_for_waiter(self, timeout: float = 30.0) -> bool:
        """Block until another session waits for the lock (call it off the event loop)."""
        if self.engine.dialect.name != "postgresql":
            # SQLite: every transaction starts with BEGIN IMMEDIATE, which waits for the lock.
            return self._waiter.wait(timeout)
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            with self.engine.connect() as conn:
                while not deadline.is_set():
                    waiting = conn.exec_driver_sql(WAITING_FOR_A_LOCK).scalar()
                    conn.rollback()
                    if waiting:
                        return True
                    deadline.wait(0.02)
        finally:
            timer.cancel()
        return False

    def _hold(self) -> None:
        try:
            # As another process would: not in this process's writer turn (store.db),
            # so this process's writers wait for it at BEGIN IMMEDIATE, where it sees them.
            with self.engine.connect() as conn, writing(conn).begin():
                self._holder_id = threading.get_ident()
                if self.engine.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")
                # SQLite: the engine's BEGIN IMMEDIATE already holds the one write lock.
                self._locked.set()
                self.gave_up = not self._release.wait(self.hold_at_most)
        except BaseException as exc:  # noqa: BLE001 — handed to the test thread
            self._errors.append(exc)
            self._locked.set()

    def _statement(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self._locked.is_set() and threading.get_ident() != self._holder_id:
            self._waiter.set()

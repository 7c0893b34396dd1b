"""Make a real concurrent writer win a race: it commits just before this process's INSERT."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event


@contextmanager
def writer_racing_insert(
    engine: Engine, table: str, action: Callable[[], object]
) -> Iterator[list[object]]:
    """Run ``action`` on another thread right before the next ``INSERT INTO table``.

    On PostgreSQL the other transaction commits before the INSERT runs (a lost race,
    as between two processes). On SQLite the INSERT's transaction already holds the
    one write lock, so the other writer waits for it: the race cannot happen there.
    Yields a list that receives ``action``'s result; its exception is re-raised.
    """
    threads: list[threading.Thread] = []
    outcome: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(action())
        except BaseException as exc:  # noqa: BLE001 — handed to the test thread
            errors.append(exc)

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        if threads or not statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()}"):
            return
        thread = threading.Thread(target=run)
        threads.append(thread)
        thread.start()
        if engine.dialect.name == "postgresql":
            thread.join(10)
            assert not thread.is_alive(), "the racing writer did not finish"

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield outcome
    finally:
        event.remove(engine, "before_cursor_execute", before)
        for thread in threads:
            thread.join(30)
    assert threads, f"no INSERT INTO {table} happened"
    if errors:
        raise errors[0]

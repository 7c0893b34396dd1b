"""Run blocking store work off the event loop: the one way async code reaches the database."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine

from mailer.store.db import reading, writer_turn, writing

T = TypeVar("T")
P = ParamSpec("P")


class DatabaseRunner:
    """Hands a blocking function to a thread and awaits it.

    ``mailer serve`` shares its loop with the scheduler and the send worker, and a SQLite
    writer may wait up to the busy timeout for another process's lock (a long CLI import):
    no transaction may run on the loop's own thread. The work goes to the default thread
    pool on every database, so a page that only reads never queues behind a writer that
    waits for the lock (reads never take SQLite's write lock: ``store.db``); writers wait
    for the lock in SQLite's busy handler, and every write transaction is short.

    ``dedicated=True`` makes a runner for one busy client (a delivery worker): its own
    thread, and with it one persistent connection that :meth:`transaction` (a write)
    and :meth:`read` use, so that the client's writes stay in order and pay for no
    connection checkout per call. Close such a runner with :meth:`aclose`.
    """

    def __init__(
        self, engine: Engine, /, *, name: str = "mailer-db", dedicated: bool = False
    ) -> None:
        self._engine = engine
        self._single = dedicated
        self._dedicated = dedicated
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._conn: Connection | None = None

    def _thread(self) -> ThreadPoolExecutor | None:
        if not self._single:
            return None
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        return self._executor

    async def run(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._thread(), functools.partial(function, *args, **kwargs)
        )

    async def transaction(
        self,
        function: Callable[Concatenate[Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``function(conn, …)`` in one write transaction on this runner's own connection (dedicated only)."""
        return await self._on_own_connection(True, function, *args, **kwargs)

    async def read(
        self,
        function: Callable[Concatenate[Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``function(conn, …)`` in one reading transaction on this runner's own connection."""
        return await self._on_own_connection(False, function, *args, **kwargs)

    async def _on_own_connection(
        self, write: bool, function: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> T:
        if not self._dedicated:
            raise RuntimeError(
                "a transaction on the runner's own connection needs a dedicated runner"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._thread(),
            functools.partial(self._in_transaction, write, function, *args, **kwargs),
        )

    def _in_transaction(
        self, write: bool, function: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> T:
        if self._conn is None:
            self._conn = self._engine.connect()
        (writing if write else reading)(self._conn)
        try:
            with writer_turn(self._engine) if write else nullcontext(), self._conn.begin():
                return function(self._conn, *args, **kwargs)
        except Exception:
            # A broken connection is replaced on the next call.
            self._conn.invalidate()
            self._conn.close()
            self._conn = None
            raise

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def aclose(self) -> None:
        """Close the own connection on its thread, then end the thread."""
        if self._executor is not None and self._conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close_connection)
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._close_connection()

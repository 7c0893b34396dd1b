"""Group commit: many small write transactions from async code, run as few real ones.

Polling two hundred feeds produces two hundred small writes. Each is a function
of a connection; :class:`GroupCommit` runs whatever has queued up in one
transaction through the process's database runner (``store.offloop``: the event loop
never waits on the database, and on SQLite this process's writers queue in order), so
a burst costs one commit instead of hundreds. Each write is all-or-nothing on its
own: if a batch fails, its writes are retried one transaction each, and only the
write that fails again reports the error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from mailer.store.db import write_transaction
from mailer.store.offloop import DatabaseRunner

T = TypeVar("T")
Write = Callable[[Connection], Any]

#: Largest number of writes combined into one transaction.
MAX_BATCH = 50


class GroupCommit:
    """Use as ``async with GroupCommit(engine, runner) as writer: await writer.run(work)``."""

    def __init__(self, engine: Engine, runner: DatabaseRunner, /) -> None:
        self.engine = engine
        self._runner = runner
        self._queue: asyncio.Queue[tuple[Write, asyncio.Future]] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> GroupCommit:
        self._task = asyncio.create_task(self._serve())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` in a transaction; returns its result or raises its error."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._queue.put((work, future))
        return await future

    async def _serve(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await self._runner.run(self._write, [work for work, _ in batch])
            except Exception as exc:  # the thread itself failed: fail this batch, keep serving
                outcomes = [(False, exc)] * len(batch)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _write(self, works: list[Write]) -> list[tuple[bool, Any]]:
        try:
            with write_transaction(self.engine) as conn:
                results = [work(conn) for work in works]
            return [(True, result) for result in results]
        except Exception as exc:
            if len(works) == 1:
                return [(False, exc)]
        outcomes: list[tuple[bool, Any]] = []
        for work in works:
            try:
                with write_transaction(self.engine) as conn:
                    outcomes.append((True, work(conn)))
            except Exception as exc:
                outcomes.append((False, exc))
        return outcomes

"""Run blocking store work off the event loop: the one way async code reaches the database."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")


class DatabaseRunner:
    """Hands a blocking function to a thread and awaits it.

    ``mailer serve`` shares its loop with the scheduler and the send worker, and a SQLite
    writer may wait up to the busy timeout for another process's lock (a long CLI import):
    no transaction may run on the loop's own thread. On SQLite the work goes to one
    database thread per process, so writers of this process queue in order instead of
    sleeping in SQLite's busy handler against each other; on PostgreSQL, which has row
    locks, it goes to the default thread pool.
    """

    def __init__(self, engine: Engine, /, *, name: str = "mailer-db") -> None:
        self._single = engine.dialect.name == "sqlite"
        self._name = name
        self._executor: ThreadPoolExecutor | None = None

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

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

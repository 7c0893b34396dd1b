"""Run feed parsing off the event loop: in worker processes started by a fork server, or a thread.

feedparser is pure Python, so parsing many feeds is CPU-bound and threads would
share one core; worker processes use every core. They are started by a fork
server (never by forking this possibly multi-threaded process), each with a cap on
its address space, so a hostile document that got past the size cap and the
DOCTYPE removal fails with MemoryError instead of exhausting the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from mailer.errors import FeedError
from mailer.feeds.prepare import ParseJob, PreparedFeed, prepare_feed

#: Address space one parser process may use.
PARSER_MEMORY_LIMIT = 2 * 1024**3

Parse = Callable[[ParseJob], Awaitable[PreparedFeed]]


@contextlib.asynccontextmanager
async def parser(*, processes: int, jobs: int) -> AsyncIterator[Parse]:
    """An async ``parse(job)`` for ``jobs`` feeds; ``processes`` 0 means one per usable CPU (≤ 8).

    One feed, or one process, is parsed in a thread: starting processes would cost
    more than it saves.
    """
    processes = min(processes or _usable_cpus(), jobs)
    if processes <= 1:

        async def in_thread(job: ParseJob) -> PreparedFeed:
            return await asyncio.to_thread(_parse_guarded, job)

        yield in_thread
        return
    pool = _ParserPool(processes)
    loop = asyncio.get_running_loop()
    warming = loop.run_in_executor(pool.control, pool.warm_up)
    try:
        yield pool.parse
    finally:
        with contextlib.suppress(Exception):
            await warming
        await loop.run_in_executor(None, pool.shutdown)


#: Parser processes started by default at most, however many CPUs the host shows.
DEFAULT_MAX_PROCESSES = 8


def _usable_cpus() -> int:
    """CPUs this process may run on (a container's CPU set, not the host's count)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    return max(1, min(count, DEFAULT_MAX_PROCESSES))


def _parse_guarded(job: ParseJob) -> PreparedFeed:
    try:
        return prepare_feed(job)
    except MemoryError:
        raise FeedError("the feed needs more memory to parse than allowed") from None


def _ready() -> bool:
    return True


def limit_memory() -> None:
    """Initializer of parser processes: cap their address space (where the OS allows)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = PARSER_MEMORY_LIMIT
        if hard != resource.RLIM_INFINITY:
            limit = min(hard, limit)
        if soft == resource.RLIM_INFINITY or soft > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):
        pass  # not available here; the size cap and DOCTYPE removal still apply


class _ParserPool:
    """A process pool that replaces itself when a worker dies (killed, out of memory)."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        try:
            self.context = multiprocessing.get_context("forkserver")
            self.context.set_forkserver_preload(["mailer.feeds.prepare"])
        except ValueError:  # no fork server on this platform (Windows)
            self.context = multiprocessing.get_context("spawn")
        self.executor: Executor = self._new()
        # Starting processes blocks; it gets threads of its own so that it never
        # occupies the event loop's default executor, where name lookups for the
        # downloads run (a starved lookup would eat into a feed's timeout).
        self.control = ThreadPoolExecutor(max_workers=2, thread_name_prefix="parser-pool")

    def _new(self) -> Executor:
        return ProcessPoolExecutor(
            max_workers=self.processes, mp_context=self.context, initializer=limit_memory
        )

    def warm_up(self) -> None:
        """Start the fork server and the workers now, while the first feeds download."""
        futures = [self.executor.submit(_ready) for _ in range(self.processes)]
        for future in futures:
            future.result()

    async def parse(self, job: ParseJob) -> PreparedFeed:
        executor = self.executor
        loop = asyncio.get_running_loop()
        try:
            # submit() may have to start processes: never on the event loop.
            future = await loop.run_in_executor(self.control, executor.submit, _parse_guarded, job)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            if self.executor is executor:
                self.executor = self._new()
                executor.shutdown(wait=False, cancel_futures=True)
            raise FeedError("the parser process died while reading this feed") from None

    def shutdown(self) -> None:
        self.control.shutdown(wait=True)
        self.executor.shutdown(wait=True, cancel_futures=True)

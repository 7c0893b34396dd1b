"""Render templates in render processes: a small, thread-safe pool that replaces what dies.

Every render of a staff-editable template goes through here (design §4 "Security
rules": staff templates render in the sandbox *and* under a wall-clock and memory
limit; issue 11, item 2). The processes (:mod:`mailer.render.child`) are started
by a fork server — never by forking this possibly multi-threaded process — with
Jinja2 and css-inline already imported, and each is reused for render after
render, so a normal preview costs one round trip over a pipe.

A render that passes the time limit is interrupted by its process (and the
process replaced); one that does not answer ``KILL_GRACE_SECONDS`` later is
killed. A render past the memory limit fails in its process, which is replaced. A
process that died while idle is replaced before the next render without anyone
noticing; one that dies during a render fails that render with a clear error. At
most ``processes`` renders run at once; further callers wait for a free process.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
import weakref
from dataclasses import replace
from multiprocessing.connection import wait
from typing import Any

from mailer.errors import TemplateError
from mailer.render.child import ACK, RenderJob, Reply, serve
from mailer.render.limits import (
    DEFAULT_MEMORY_MB,
    DEFAULT_PROCESSES,
    DEFAULT_TIMEOUT_SECONDS,
    KILL_GRACE_SECONDS,
    lost_error,
    memory_error,
    timeout_error,
)

#: What a fork server imports once, so that a new render process starts in milliseconds.
#: ``__main__`` (multiprocessing's own default) spares every process re-importing the
#: caller's main module (the ``mailer`` script) before it can start.
PRELOAD = ["__main__", "mailer.render.child", "mailer.render.sandbox"]


class _DiedBeforeJob(Exception):
    """The process was gone before it took the job (it died while idle)."""


class _Unresponsive(Exception):
    """The process neither answered nor ended by the deadline."""


class _Lost(Exception):
    """The process ended while it rendered."""


class _RenderProcess:
    """One render process and our end of its pipe."""

    def __init__(self, context, memory_bytes: int) -> None:
        here, there = context.Pipe()
        self.process = context.Process(
            target=serve, args=(there, memory_bytes), name="mailer-render", daemon=True
        )
        self.process.start()
        there.close()
        self.connection = here
        self.pid = self.process.pid
        self._stopped = False

    def ask(self, job: RenderJob, /, *, wait_seconds: float) -> Reply:
        deadline = time.monotonic() + wait_seconds
        try:
            self.connection.send(job)
        except OSError:
            raise _DiedBeforeJob from None
        if self._receive(deadline, started=False) != ACK:
            raise _Lost("an unexpected answer")
        return self._receive(deadline, started=True)

    def _receive(self, deadline: float, *, started: bool) -> Any:
        ready = wait(
            [self.connection, self.process.sentinel], max(0.0, deadline - time.monotonic())
        )
        if not ready:
            raise _Unresponsive
        try:
            if self.connection.poll():
                return self.connection.recv()
        except (EOFError, OSError):  # the pipe closed (or was reset) as the process ended
            pass
        if not started:
            raise _DiedBeforeJob
        raise _Lost(self._how_it_ended())

    def _how_it_ended(self) -> str:
        self.process.join(5)
        code = self.process.exitcode
        if code is None:
            return "the pipe closed"
        if code < 0:
            try:
                return f"signal {signal.Signals(-code).name}"
            except ValueError:
                return f"signal {-code}"
        return f"exit code {code}"

    def alive(self) -> bool:
        return not self._stopped and self.process.is_alive()

    def kill(self) -> None:
        """Send SIGKILL (safe from any thread; the owner still calls stop())."""
        if not self._stopped and self.process.exitcode is None:
            self.process.kill()

    def stop(self) -> None:
        """Kill if needed, reap, and release the pipe; by the thread that owns the process."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.exitcode is None:
            self.process.kill()
        self.process.join(5)
        self.connection.close()
        if self.process.exitcode is not None:
            self.process.close()


def _stop_all(processes: set[_RenderProcess], /) -> None:
    for process in list(processes):
        process.kill()


def _process_context():
    try:
        context = multiprocessing.get_context("forkserver")
    except ValueError:  # no fork server on this platform (Windows)
        return multiprocessing.get_context("spawn")
    # Affects only a fork server not started yet; one already running (started by
    # the feed parser pool) still serves, and the process imports Jinja2 itself.
    context.set_forkserver_preload(PRELOAD)
    return context


class RenderPool:
    """Up to ``processes`` render processes, each capped at ``memory_mb``; every render
    limited to ``timeout_seconds``. Thread-safe; ``close()`` ends every process."""

    def __init__(
        self,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        memory_mb: int = DEFAULT_MEMORY_MB,
        processes: int = DEFAULT_PROCESSES,
    ) -> None:
        if timeout_seconds <= 0 or memory_mb <= 0 or processes < 1:
            raise ValueError("render limits must be positive")
        self.timeout_seconds = float(timeout_seconds)
        self.memory_mb = int(memory_mb)
        self.processes = int(processes)
        self._slots = threading.BoundedSemaphore(self.processes)
        self._lock = threading.Lock()
        self._idle: list[_RenderProcess] = []
        self._all: set[_RenderProcess] = set()
        self._closed = False
        self._context = None
        # A pool dropped without close() still ends its processes (they are also
        # daemonic, so multiprocessing ends them when this process exits).
        self._finalizer = weakref.finalize(self, _stop_all, self._all)

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def pids(self) -> list[int]:
        """Process ids of the pool's render processes, idle or busy (for operators and tests).

        A process that died while idle is listed until the next render replaces it.
        """
        with self._lock:
            return sorted(process.pid for process in self._all)

    def run(self, job: RenderJob, /) -> Any:
        """Render ``job`` in a render process; return its value or raise TemplateError."""
        job = replace(job, timeout=self.timeout_seconds)
        with self._slots:
            reply = self._ask(job)
        if reply.outcome == "ok":
            return reply.value
        where = reply.template or job.name
        if reply.outcome == "timeout":
            raise timeout_error(self.timeout_seconds, template=where, line=reply.line)
        if reply.outcome == "memory":
            raise memory_error(self.memory_mb, template=where, line=reply.line)
        raise TemplateError(reply.value, template=reply.template, line=reply.line)

    def _ask(self, job: RenderJob) -> Reply:
        # A process found dead when it should take the job died while idle: the job
        # goes to a fresh one. A fresh process that dies before taking it is lost.
        for fresh_only in (False, True):
            process = self._checkout(fresh_only=fresh_only)
            reusable = False
            try:
                reply = process.ask(job, wait_seconds=self.timeout_seconds + KILL_GRACE_SECONDS)
                reusable = reply.outcome in ("ok", "template")
                return reply
            except _DiedBeforeJob:
                if fresh_only:
                    raise lost_error(
                        self.memory_mb, "it ended at start", template=job.name
                    ) from None
            except _Unresponsive:
                raise timeout_error(self.timeout_seconds, template=job.name) from None
            except _Lost as lost:
                raise lost_error(self.memory_mb, str(lost), template=job.name) from None
            finally:
                self._checkin(process, reusable=reusable)
        raise AssertionError("unreachable")

    def _checkout(self, *, fresh_only: bool) -> _RenderProcess:
        dead: list[_RenderProcess] = []
        with self._lock:
            if self._closed:
                raise RuntimeError("the render pool is closed")
            process = None
            while self._idle and not fresh_only:
                candidate = self._idle.pop()
                if candidate.alive():
                    process = candidate
                    break
                dead.append(candidate)
                self._all.discard(candidate)
            if self._context is None:
                self._context = _process_context()
        for candidate in dead:
            candidate.stop()
        if process is not None:
            return process
        process = _RenderProcess(self._context, self.memory_mb * 1024 * 1024)
        with self._lock:
            self._all.add(process)
        return process

    def _checkin(self, process: _RenderProcess, /, *, reusable: bool) -> None:
        with self._lock:
            if reusable and not self._closed and process.alive():
                self._idle.append(process)
                return
            self._all.discard(process)
        process.stop()

    def close(self) -> None:
        """End every render process; a render running now fails. Idempotent."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            for process in idle:
                self._all.discard(process)
        for process in idle:
            process.stop()
        self._finalizer()  # kills the busy ones; their renders clean up after themselves

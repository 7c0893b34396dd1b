"""Run the web app under uvicorn, with the scheduler, a delivery worker and (without a relay) the built-in outbox.

The delivery worker (digests and notices) runs in the app's lifespan (mailer.web.app),
so it stops before the outbox does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import uvicorn

from mailer.bootstrap import require_database
from mailer.context import AppContext
from mailer.errors import StoreError
from mailer.mail import Outbox, start_outbox
from mailer.web.app import create_app

log = logging.getLogger("mailer.serve")


async def serve_forever(
    context: AppContext, *, host: str, port: int, scheduler: bool, worker: bool
) -> None:
    """Serve until SIGTERM/SIGINT; the outbox and the scheduler live exactly as long as the server."""
    settings = context.settings
    outbox: Outbox | None = None
    if settings.smtp.uses_outbox:
        # serve owns the outbox: a taken port is an error here, not "use the running one".
        outbox = await start_outbox(
            settings.outbox_dir, port=settings.smtp.outbox_port, reuse_running=False
        )
        assert outbox is not None
        log.warning(
            "built-in outbox on 127.0.0.1:%s stores mail in %s", outbox.port, outbox.directory
        )
    config = uvicorn.Config(
        create_app(context, worker=worker),
        host=host,
        port=port,
        log_level=settings.log_level,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    scheduling = _SchedulerWhenReady(context) if scheduler else None
    with _graceful_signals(server):
        try:
            if scheduling is not None:
                await scheduling.begin()
            # The app's lifespan runs the delivery worker; it has finished the messages
            # in flight when serve() returns, before the outbox goes away.
            await server.serve()
        finally:
            if scheduling is not None:
                await scheduling.end()
            if outbox is not None:
                await outbox.stop()


@contextlib.contextmanager
def _graceful_signals(server: uvicorn.Server):
    """Let SIGTERM/SIGINT end ``server.serve()`` and then our own clean-up.

    uvicorn restores the handlers it found and re-raises the signal after it has shut
    down; with the default SIGTERM action that kills the process before the scheduler
    can record or finish its running jobs. The handlers found are these, which only ask
    uvicorn to exit.
    """

    def ask_to_exit(signum, frame) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, ask_to_exit) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _SchedulerWhenReady:
    """Start the scheduler before serving if the database is ready, else as soon as it is.

    Until then /healthz reports why (the database check) and that no scheduler runs.
    """

    def __init__(self, context: AppContext) -> None:
        from mailer.jobs import JOBS
        from mailer.schedules import Scheduler

        self.engine = Scheduler(context, jobs=JOBS)
        self.context = context
        self._task: asyncio.Task | None = None
        self._started = False

    async def begin(self) -> None:
        if await self._database_ready():
            await self._start()
            return
        self._task = asyncio.create_task(self._start_when_ready())
        self._task.add_done_callback(self._report)

    async def _database_ready(self) -> bool:
        try:
            await self.context.database.run(require_database, self.context)
        except StoreError as exc:
            log.warning("the scheduler waits for the database: %s", exc)
            return False
        return True

    async def _start_when_ready(self) -> None:
        while True:
            await asyncio.sleep(self.context.settings.scheduler.reload_seconds)
            try:
                await self.context.database.run(require_database, self.context)
            except StoreError:
                continue
            await self._start()
            return

    async def _start(self) -> None:
        self._started = True  # from here on, end() has something to clean up
        await self.engine.start()

    @staticmethod
    def _report(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the scheduler could not start", exc_info=task.exception())

    async def end(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._started:
            await self.engine.stop()

"""Run the web app under uvicorn, with the built-in outbox when no relay is configured."""

from __future__ import annotations

import asyncio
import logging

import uvicorn

from mailer.bootstrap import AppContext
from mailer.outbox import Outbox
from mailer.send import run_worker
from mailer.web.app import create_app

log = logging.getLogger("mailer.serve")


async def serve_forever(
    context: AppContext, *, host: str, port: int, scheduler: bool, worker: bool
) -> None:
    """Serve until interrupted; the outbox lives exactly as long as the web server."""
    settings = context.settings
    outbox: Outbox | None = None
    if settings.smtp.uses_outbox:
        outbox = Outbox(settings.outbox_dir, port=settings.smtp.outbox_port)
        try:
            await outbox.start()
        except OSError as exc:
            from mailer.errors import MailerError

            raise MailerError(
                f"built-in outbox cannot listen on 127.0.0.1:{settings.smtp.outbox_port}: "
                f"{exc.strerror} (set MAILER_SMTP__OUTBOX_PORT or MAILER_SMTP__HOST)"
            ) from exc
        log.warning(
            "built-in outbox on 127.0.0.1:%s stores mail in %s", outbox.port, outbox.directory
        )
    config = uvicorn.Config(
        create_app(context), host=host, port=port, log_level=settings.log_level, lifespan="on"
    )
    server = uvicorn.Server(config)
    stop_worker = asyncio.Event()
    worker_task: asyncio.Task | None = None
    if worker:
        worker_task = asyncio.create_task(run_worker(context, stop=stop_worker))
        worker_task.add_done_callback(_report_worker_end)
    try:
        await server.serve()
    finally:
        # The worker finishes the messages in flight before the outbox goes away.
        stop_worker.set()
        if worker_task is not None:
            await asyncio.gather(worker_task, return_exceptions=True)
        if outbox is not None:
            await outbox.stop()


def _report_worker_end(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the send worker stopped", exc_info=task.exception())

"""Run the web app under uvicorn, with the scheduler, a delivery worker and (without a relay) the built-in outbox.

The delivery worker (digests and notices) runs in the app's lifespan (mailer.web.app),
so it stops before the outbox does.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from mailer.context import AppContext
from mailer.jobs import JOBS
from mailer.logs import configure_logging
from mailer.mail import Outbox, start_outbox
from mailer.schedules import SchedulerWhenReady
from mailer.web.app import create_app

log = logging.getLogger("mailer.serve")


def uvicorn_config(app: ASGIApp, /, *, log_level: str, **options: Any) -> uvicorn.Config:
    """uvicorn's settings for our app, wherever it is served (``mailer serve`` and the tests).

    - ``proxy_headers=False``: uvicorn would otherwise believe ``X-Forwarded-For`` from
      127.0.0.1 (its default ``forwarded_allow_ips``), before our own
      ``web.trusted_proxies`` check could see the real peer (issue 11 item 3).
    - ``log_config=None``: the process's logging (``mailer.logs.configure_logging``)
      redacts every line; uvicorn's own handlers would not.
    """
    return uvicorn.Config(
        app,
        log_level=log_level,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        lifespan="on",
        **options,
    )


async def serve_forever(
    context: AppContext, *, host: str, port: int, scheduler: bool, worker: bool
) -> None:
    """Serve until SIGTERM/SIGINT; the outbox and the scheduler live exactly as long as the server."""
    settings = context.settings
    configure_logging(settings.log_level)
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
    app = create_app(context, worker=worker, listen_host=host)
    server = uvicorn.Server(uvicorn_config(app, host=host, port=port, log_level=settings.log_level))
    scheduling = SchedulerWhenReady(context, jobs=JOBS) if scheduler else None
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

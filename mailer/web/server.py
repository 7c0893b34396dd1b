"""Run the web app under uvicorn, with the scheduler, a delivery worker and (without a relay) the built-in outbox.

The delivery worker (digests and notices) runs in the app's lifespan (mailer.web.app),
so it stops before the outbox does.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from starlette.types import ASGIApp

from mailer.context import AppContext
from mailer.errors import MailerError, StoreError
from mailer.jobs import JOBS
from mailer.logs import configure_logging
from mailer.mail import Outbox, start_outbox
from mailer.public_url import listen_address_warnings, serving_at
from mailer.schedules import SchedulerWhenReady
from mailer.staff import first_admin_link
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
    configure_logging(context.settings.log_level, log_format=context.settings.log.format)
    # Bound first: the port it got (port 0: any free one) is where links in mail lead
    # unless base_url is set (issue 15 item 1), and the app is built with those links.
    sock = _listening_socket(host, port)
    port = sock.getsockname()[1]
    for warning in listen_address_warnings(
        context.settings, host=host, port=port, other_processes=not (scheduler and worker)
    ):
        log.warning("%s", warning)
    # The one context of this process: its scheduler, worker and pages all read it.
    context.settings = settings = serving_at(context.settings, host, port)
    log.info("links in mail point at %s", settings.base_url)
    _announce_first_admin_link(context)
    try:
        await _serve(context, sock, host=host, scheduler=scheduler, worker=worker)
    finally:
        sock.close()


def _announce_first_admin_link(context: AppContext) -> None:
    """With no enabled admin, print a one-time link that creates the first one (issue 12 item 1).

    Printed on standard output, not logged: the log redacts every token, and this one
    is meant to be opened; the log (standard error) stays one JSON object per line under
    ``log.format = "json"``. Each start makes a new link and kills the one printed before.
    """
    try:
        link = first_admin_link(context)
    except StoreError as exc:
        log.warning("no first-admin link: %s", exc)
        return
    if link is not None:
        expires = link.expires_at.astimezone(ZoneInfo(context.settings.timezone))
        sys.stdout.write(
            "관리자 계정이 아직 없습니다. 이 링크를 열어 첫 관리자를 만드세요 "
            f"({expires:%Y-%m-%d %H:%M %Z}까지, 한 번만 쓸 수 있습니다)\n"
            "No admin account yet: open this link to create the first admin "
            f"(until {expires:%Y-%m-%d %H:%M %Z}, works once):\n"
            f"  {link.url}\n"
        )
        sys.stdout.flush()


async def _serve(
    context: AppContext, sock: socket.socket, /, *, host: str, scheduler: bool, worker: bool
) -> None:
    settings = context.settings
    port = sock.getsockname()[1]
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
    server = _Server(uvicorn_config(app, host=host, port=port, log_level=settings.log_level))
    scheduling = SchedulerWhenReady(context, jobs=JOBS) if scheduler else None
    with _graceful_signals(server):
        try:
            if scheduling is not None:
                await scheduling.begin()
            # The app's lifespan runs the delivery worker; it has finished the messages
            # in flight when serve() returns, before the outbox goes away.
            await server.serve(sockets=[sock])
        finally:
            if scheduling is not None:
                await scheduling.end()
            if outbox is not None:
                await outbox.stop()


class _Server(uvicorn.Server):
    """uvicorn's server, naming its address once it serves, as it does when it binds itself.

    Handed a socket, uvicorn starts silently; operators (and the tests, which wait for the
    line) expect "Uvicorn running on http://host:port" at log level info.
    """

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and sockets:
            host, port = self.config.host, sockets[0].getsockname()[1]
            shown = f"[{host}]" if ":" in host else host
            logging.getLogger("uvicorn.error").info(
                "Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, port
            )


def _listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on host:port, as uvicorn would bind it; a clear error if it cannot."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family, backlog=2048)
    except OSError as exc:
        raise MailerError(
            f"mailer serve cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(choose another with --port or MAILER_PORT)"
        ) from exc


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

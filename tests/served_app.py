"""Run the FastAPI app under a real uvicorn server in a thread, on a port nobody else can take."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from mailer.context import AppContext
from mailer.web.app import create_app
from mailer.web.server import uvicorn_config
from tests.helpers import listening_socket, wait_for

__all__ = ["client", "serve_app", "wait_for"]


@contextmanager
def serve_app(
    context: AppContext,
    *,
    sock: socket.socket | None = None,
    app: FastAPI | None = None,
    worker: bool = True,
) -> Iterator[str]:
    """Yield the base URL of a running server; the lifespan (delivery worker) runs too unless ``worker=False``.

    ``sock``: a listening socket (:func:`tests.helpers.listening_socket`) for a caller that
    needs the port before the app exists (a base_url pointing at the server itself).
    ``app``: the app to serve, when the test needs it too; default ``create_app(context)``.
    """
    sock = sock or listening_socket()
    host, port = sock.getsockname()[:2]
    # The settings `mailer serve` uses (no uvicorn proxy-header handling), and the
    # address bound, which decides whether the development /outbox page exists.
    app = app or create_app(context, listen_host=host, worker=worker)
    config = uvicorn_config(app, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test", daemon=True
    )
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), timeout=15, what="uvicorn start")
        assert thread.is_alive(), "uvicorn stopped while starting"
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=10, follow_redirects=False)

"""Run the FastAPI app under a real uvicorn server in a thread, on a port nobody else can take."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from mailer.context import AppContext
from mailer.web.app import create_app
from tests.helpers import listening_socket, wait_for

__all__ = ["client", "serve_app", "wait_for"]


@contextmanager
def serve_app(
    context: AppContext, *, sock: socket.socket | None = None, worker: bool = True
) -> Iterator[str]:
    """Yield the base URL of a running server; the lifespan (delivery worker) runs too unless ``worker=False``.

    ``sock``: a listening socket (:func:`tests.helpers.listening_socket`) for a caller that
    needs the port before the app exists (a base_url pointing at the server itself).
    """
    sock = sock or listening_socket()
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(create_app(context, worker=worker), log_level="warning", lifespan="on")
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

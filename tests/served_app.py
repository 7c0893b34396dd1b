"""Run the FastAPI app under a real uvicorn server in a thread, on a free loopback port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from mailer.context import AppContext
from mailer.web.app import create_app
from tests.helpers import free_port


@contextmanager
def serve_app(context: AppContext, *, port: int | None = None) -> Iterator[str]:
    """Yield the base URL of a running server; the lifespan (notice runner) runs too."""
    port = port or free_port()
    config = uvicorn.Config(
        create_app(context), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def wait_for(predicate, *, timeout: float = 10.0, interval: float = 0.05):
    """Poll until ``predicate()`` is truthy (mail arriving after the HTTP answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=10, follow_redirects=False)

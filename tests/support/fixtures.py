"""Provide the fake SMTP relay and feed server as function-scoped pytest fixtures.

Import into a conftest with ``from tests.support.fixtures import *`` (or load the module
with ``-p tests.support.fixtures``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.feed_server import FeedServer
from tests.support.smtp_server import FaultySMTPServer

__all__ = ["feed_server", "smtp_server"]


@pytest.fixture
def smtp_server() -> Iterator[FaultySMTPServer]:
    """A running FaultySMTPServer on 127.0.0.1; stopped (threads joined) after the test."""
    server = FaultySMTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A running FeedServer on 127.0.0.1; closed (threads joined) after the test."""
    server = FeedServer()
    try:
        yield server
    finally:
        server.close()

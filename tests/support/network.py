"""Keep tests offline: the guard of ``tests/support/offline`` in this process and in every subprocess.

Import into a conftest with ``from tests.support.network import *``: importing installs the
guard here and exports the environment that installs it in subprocesses (``PYTHONPATH``
names the guard's folder, ``MAILER_TEST_NETWORK_LOG`` this process's log of refusals);
the autouse fixture fails a test that tried to leave loopback, in-process or in a
subprocess, even when the code under test swallowed the error.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

GUARD_DIR = Path(__file__).resolve().parent / "offline"
if str(GUARD_DIR) not in sys.path:
    sys.path.insert(0, str(GUARD_DIR))

import offline_guard  # noqa: E402 — importable once GUARD_DIR is on sys.path

__all__ = ["stay_offline"]

BlockedConnection = offline_guard.BlockedConnection


def _prepare() -> None:
    offline_guard.install()
    paths = [str(GUARD_DIR), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    # One log per process: xdist workers each run their own tests (and subprocesses).
    log = Path(tempfile.gettempdir()) / f"mailer-test-network-{os.getpid()}.log"
    os.environ[offline_guard.ENV_LOG] = str(log)
    atexit.register(lambda: log.unlink(missing_ok=True))


_prepare()


def attempts() -> list[str]:
    """Refusals since the last forget(): this process's and its subprocesses'."""
    logged = offline_guard.logged(os.environ[offline_guard.ENV_LOG])
    return list(dict.fromkeys([*offline_guard.refused, *logged]))


@contextlib.contextmanager
def expect_refusals() -> Iterator[list[str]]:
    """For a test that provokes refusals on purpose: yields them (filled at exit), then forgets."""
    found: list[str] = []
    offline_guard.forget()
    try:
        yield found
    finally:
        found.extend(attempts())
        offline_guard.forget()


def fail_if_tried() -> None:
    """Fail the current test if anything was refused since the last forget(); then forget it."""
    tried = attempts()
    offline_guard.forget()
    if tried:
        pytest.fail("network access beyond loopback:\n" + "\n".join(tried), pytrace=False)


@pytest.fixture(autouse=True)
def stay_offline() -> Iterator[None]:
    """Fail the test if it, or a process it started, tried to reach beyond loopback."""
    offline_guard.forget()
    yield
    fail_if_tried()

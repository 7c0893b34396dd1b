"""Small helpers shared by tests: ports nobody can take, the CLI in a subprocess, waiting for events.

Ports: a server binds port 0 itself and the test reads back the port it got
(:func:`listening_socket` for servers in this process; :func:`start_serve` runs
``mailer serve --port 0`` in a subprocess and reads the address back). Handing a probed "free" port
to a server races with every other xdist worker doing the same.

Waiting: :func:`wait_for` polls for the event itself with a deadline that only bounds a
failure; no test sleeps in the hope that something has happened.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
from sqlalchemy import update

from mailer.keys import IdentityKeys
from mailer.store import db
from mailer.store.db import write_transaction
from mailer.store.tables import schedules

#: The secret key of every test's settings (conftest ``make_settings``), and its keys:
#: what a test needs to compute an address key or a subscriber's link token itself.
TEST_SECRET = "test-secret-key-0123456789abcdef"
TEST_KEYS = IdentityKeys(TEST_SECRET)


def link_token(row: dict) -> str:
    """A subscriber row's current unsubscribe/preferences token (only its seed is stored)."""
    return TEST_KEYS.link_token(row["token_seed"])


T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent

#: What `mailer serve` logs once it listens (uvicorn, at log level info).
SERVING = re.compile(r"Uvicorn running on (http://\S+)")


def wait_for(
    predicate: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll until ``predicate()`` is truthy and return it; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what or 'condition'} not met within {timeout} s")
        time.sleep(interval)


def listening_socket(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket listening on a port the system picked; hand it to the server that serves it."""
    return socket.create_server((host, 0))


def offline_config_dir() -> Path:
    """A copy of config/ with no feeds: what `mailer init` seeds then never polls the internet.

    One copy per test process, removed at exit; tests that need feeds write their own.
    """
    global _offline_config
    if _offline_config is None:
        target = Path(tempfile.mkdtemp(prefix="mailer-test-config-"))
        atexit.register(shutil.rmtree, target, ignore_errors=True)
        shutil.copytree(REPO / "config", target, dirs_exist_ok=True)
        (target / "feeds.toml").write_text("# no feeds in tests: nothing may poll the internet\n")
        _offline_config = target
    return _offline_config


_offline_config: Path | None = None


def cli_env(**values: str) -> dict[str, str]:
    """The current environment without any MAILER_* setting, with the offline config, plus ``values``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MAILER_") or k.startswith("MAILER_TEST_")
    }
    env["MAILER_CONFIG_DIR"] = str(offline_config_dir())
    env.update(values)
    return env


def pause_schedules(database_url: str, *names: str) -> None:
    """Pause schedules ``mailer init`` seeded (say, ``poll``) before a scheduler starts."""
    engine = db.make_engine(database_url)
    try:
        with write_transaction(engine) as conn:
            conn.execute(update(schedules).where(schedules.c.name.in_(names)).values(enabled=False))
    finally:
        engine.dispose()


def run_cli(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """Run ``mailer ARGS…``; ``stdin`` is its standard input (else none: it reads end of file)."""
    return subprocess.run(
        [sys.executable, "-m", "mailer", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(
    *args: str, env: dict[str, str], cwd: Path, stdout: Path | None = None
) -> subprocess.Popen:
    """`mailer ARGS…` with its output in one pipe; with ``stdout``, what it prints goes to
    that file and the pipe carries its log (stderr) alone, as a JSON-log test reads it."""
    if stdout is None:
        return subprocess.Popen(
            [sys.executable, "-m", "mailer", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    with stdout.open("w") as printed:
        return subprocess.Popen(
            [sys.executable, "-m", "mailer", *args],
            env=env,
            cwd=cwd,
            stdout=printed,
            stderr=subprocess.PIPE,
            text=True,
        )


class _Output:
    """A process's stdout, read on a thread as it comes (a full pipe would stall the process)."""

    def __init__(self, process: subprocess.Popen) -> None:
        stream = process.stdout if process.stdout is not None else process.stderr
        assert stream is not None
        self._stream = stream
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="process-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def text(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def wait_for(self, pattern: re.Pattern[str], *, process: subprocess.Popen, timeout: float):
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self._lines[seen:]:
                    if found := pattern.search(line):
                        return found
                seen = len(self._lines)
                if process.poll() is not None and not self._thread.is_alive():
                    raise AssertionError(
                        f"process exited with {process.returncode} before printing "
                        f"{pattern.pattern!r}:\n{''.join(self._lines)}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no {pattern.pattern!r} within {timeout} s:\n{''.join(self._lines)}"
                    )
                self._changed.wait(min(remaining, 0.5))

    def close(self, timeout: float) -> None:
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._stream.close()


def _output(process: subprocess.Popen) -> _Output:
    watcher = getattr(process, "_test_output", None)
    if watcher is None:
        watcher = _Output(process)
        process._test_output = watcher  # type: ignore[attr-defined]
    return watcher


def wait_for_output(
    process: subprocess.Popen, pattern: re.Pattern[str], *, timeout: float = 60
) -> re.Match[str]:
    """The first line of the process's output matching ``pattern``; fails if it exits first."""
    return _output(process).wait_for(pattern, process=process, timeout=timeout)


def served_base(process: subprocess.Popen, *, timeout: float = 60) -> str:
    """The ``http://127.0.0.1:PORT`` a `mailer serve --port 0` listens on (uvicorn logs it at info)."""
    return wait_for_output(process, SERVING, timeout=timeout).group(1)


def start_serve(
    *args: str,
    env: dict[str, str],
    cwd: Path,
    start: Callable[..., subprocess.Popen] = start_cli,
) -> tuple[subprocess.Popen, str, dict[str, str]]:
    """`mailer serve --port 0 ARGS…` once it listens: (process, base URL, env to run CLI beside it).

    The web port is the one uvicorn got for port 0. The built-in outbox (no relay in
    ``env``) cannot take port 0 — serve's own worker sends to the configured port — so it
    gets a port probed free, and another one if some other process took that port first.
    ``start`` launches the process (``start_cli``, or a launcher such as the schedule probe's).
    """
    env = {**env, "MAILER_LOG_LEVEL": "info"}  # uvicorn names its address at info
    uses_outbox = "MAILER_SMTP__HOST" not in env
    attempts = 5
    for attempt in range(1, attempts + 1):
        if uses_outbox:
            env["MAILER_SMTP__OUTBOX_PORT"] = str(_probably_free_port())
        process = start("serve", "--port", "0", *args, env=env, cwd=cwd)
        try:
            return process, served_base(process), env
        except AssertionError:
            output = stop(process)
            if not (uses_outbox and "outbox cannot listen" in output and attempt < attempts):
                raise
    raise AssertionError("unreachable")


def _probably_free_port() -> int:
    # Only for the outbox of start_serve, which retries when the port was taken meanwhile.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, *, process: subprocess.Popen, timeout: float = 30) -> httpx.Response:
    """Poll ``url`` until it answers; fail early with the server's output if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{stop(process)}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen) -> str:
    """SIGTERM ``process`` (SIGKILL if it does not end in 15 s) and return all it printed."""
    if process.poll() is None:
        process.terminate()
    watcher = getattr(process, "_test_output", None)
    if watcher is None:
        try:
            output, log = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            output, log = process.communicate()
        # One of the two is None: the pipe carries stdout and stderr, or stderr alone.
        return (output or "") + (log or "")
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    watcher.close(timeout=15)
    return watcher.text

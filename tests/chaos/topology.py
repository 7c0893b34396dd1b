"""The chaos test's process topology: settings for every process, starting them, stopping them cleanly.

Every process (`mailer scheduler`, `mailer worker` ×2, `mailer serve --no-scheduler
--no-worker`) is a real OS process on one database, sending to the test process's
:class:`tests.support.chaos_relay.ChaosRelay`. The figures are small so that death
is noticed within seconds and deferred mail is retried within the test.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers import TEST_SECRET, cli_env, start_cli, stop, wait_for_output

#: SMTP connections per worker: a SIGKILLed worker had at most this many messages in flight.
CONNECTIONS = 6
#: Seconds the relay must answer before a paused edition resumes by itself.
AUTO_RESUME_AFTER = 3
WORKER_STARTED = re.compile(r"worker started")
SCHEDULER_STARTED = re.compile(r"scheduler \S+ started with")
RESUMED = re.compile(r"edition \d+ resumed by itself")


def chaos_env(database_url: str, tmp_path: Path, *, relay_port: int) -> dict[str, str]:
    return cli_env(
        MAILER_DATABASE_URL=database_url,
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_SECRET_KEY=TEST_SECRET,
        MAILER_SMTP__HOST="127.0.0.1",
        MAILER_SMTP__PORT=str(relay_port),
        MAILER_SMTP__CONNECTIONS=str(CONNECTIONS),
        MAILER_SMTP__TIMEOUT="20",
        MAILER_DELIVERY__BATCH_SIZE="50",
        MAILER_DELIVERY__POLL_SECONDS="0.2",
        MAILER_DELIVERY__HEARTBEAT_SECONDS="0.5",
        MAILER_DELIVERY__STALE_AFTER="3",
        MAILER_DELIVERY__BACKOFF_BASE="0.2",
        MAILER_DELIVERY__BACKOFF_MAX="1",
        MAILER_DELIVERY__AUTO_RESUME_AFTER=str(AUTO_RESUME_AFTER),
        MAILER_SCHEDULER__RELOAD_SECONDS="0.5",
        MAILER_SCHEDULER__HEARTBEAT_SECONDS="0.5",
        MAILER_LOG_LEVEL="info",
    )


def start(
    command: str, *, env: dict[str, str], cwd: Path, ready: re.Pattern[str]
) -> subprocess.Popen:
    """``mailer COMMAND`` once it printed ``ready``; its output is read on a thread from then on."""
    process = start_cli(command, env=env, cwd=cwd)
    wait_for_output(process, ready, timeout=90)
    return process


def kill(process: subprocess.Popen) -> str:
    """SIGKILL: no chance to close its books. Returns what it printed."""
    process.kill()
    return stop(process)


def wait_until(
    condition: Callable[[], object],
    *,
    timeout: float,
    what: str,
    processes: list[subprocess.Popen] = (),  # type: ignore[assignment]
    interval: float = 0.05,
):
    """Poll ``condition`` until it holds and return its value; fail at the deadline or if a process died."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(
                    f"a process exited ({process.returncode}) while waiting for {what}:\n"
                    f"{stop(process)[-5000:]}"
                )
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout} s\n{tails(processes)}")
        time.sleep(interval)


def tails(processes, *, chars: int = 3000) -> str:
    """The end of what each process printed so far (read by tests.helpers' output thread)."""
    parts = []
    for process in processes:
        watcher = getattr(process, "_test_output", None)
        text = watcher.text if watcher is not None else "(output not read)"
        parts.append(f"--- {' '.join(process.args[2:])} (pid {process.pid}):\n{text[-chars:]}")
    return "\n".join(parts)

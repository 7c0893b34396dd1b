"""Test plumbing for schedules: a settable clock, schedule rows, and the "probe" job kind.

The probe kind is registered in :data:`mailer.jobs.JOBS` like any other kind (a
plug-in, not a mock). Its runs leave real traces: an ``audit_log`` row per run in
process, a line in a file per run in a subprocess.

``python -m tests.schedule_support ARGS…`` runs the ``mailer`` command line with the
probe kind registered, so ``scheduler`` and ``serve`` subprocesses can fire it; the
file is named by SCHEDULE_PROBE_FILE; a run first sleeps SCHEDULE_PROBE_SECONDS and waits
for the file SCHEDULE_PROBE_GATE names.
Its ``serve`` logs the scheduler's decisions at info, as ``mailer scheduler`` does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, select

from mailer.jobs import JOBS, JobRun
from mailer.store.db import write_transaction
from mailer.store.tables import audit_log, schedule_runs, schedules

REPO = Path(__file__).resolve().parent.parent


class FakeClock:
    """A clock that says whatever the test sets; the scheduler reads "now" only from it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def add_schedule(
    engine: Engine,
    name: str,
    *,
    cron: str,
    kind: str = "probe",
    timezone: str = "UTC",
    grace_seconds: int = 3600,
    updated_at: datetime,
    enabled: bool = True,
) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            insert(schedules).values(
                name=name,
                kind=kind,
                cron=cron,
                timezone=timezone,
                enabled=enabled,
                grace_seconds=grace_seconds,
                updated_at=updated_at,
            )
        )


def runs(engine: Engine, name: str) -> list[dict]:
    """Run rows of one schedule, oldest fire time first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(schedule_runs)
            .where(schedule_runs.c.schedule == name)
            .order_by(schedule_runs.c.fire_time)
        ).mappings()
        return [dict(row) for row in rows]


def probe_rows(engine: Engine) -> list[dict]:
    """What in-process probe runs wrote: (schedule, fire time, instance) per run."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.action == "probe").order_by(audit_log.c.id)
        ).mappings()
        return [dict(row) for row in rows]


def make_db_probe(engine: Engine, *, seconds: float = 0.0):
    """A job that sleeps ``seconds`` then inserts one audit_log row for the fire time it ran."""

    async def probe(run: JobRun) -> str:
        await asyncio.sleep(seconds)

        def write() -> None:
            with write_transaction(engine) as conn:
                conn.execute(
                    insert(audit_log).values(
                        at=run.now(),
                        actor=run.instance,
                        action="probe",
                        target=run.schedule,
                        detail={"fire_time": run.fire_time.isoformat()},
                    )
                )

        await asyncio.to_thread(write)
        return f"probe ran for {run.fire_time:%H:%M}"

    return probe


async def file_probe(run: JobRun) -> str:
    """The subprocess probe: one line "schedule fire-time instance" per run, appended.

    With SCHEDULE_PROBE_GATE set, a run first waits until that file exists, so a test can
    hold it in flight until it has seen what it waits for (another process racing for it).
    """
    await asyncio.sleep(float(os.environ.get("SCHEDULE_PROBE_SECONDS", "0")))
    gate = os.environ.get("SCHEDULE_PROBE_GATE")
    if gate:
        async with asyncio.timeout(120):
            while not os.path.exists(gate):
                await asyncio.sleep(0.05)
    path = os.environ["SCHEDULE_PROBE_FILE"]
    line = f"{run.schedule} {run.fire_time.astimezone(UTC).isoformat()} {run.instance}\n"
    # One short write to an O_APPEND file: lines of two processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return "probe wrote a line"


def probe_lines(path: Path) -> list[tuple[str, datetime, str]]:
    if not path.exists():
        return []
    lines = []
    for line in path.read_text().splitlines():
        name, moment, instance = line.split(" ")
        lines.append((name, datetime.fromisoformat(moment), instance))
    return lines


def start_probe_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """Start ``mailer ARGS…`` in a subprocess with the probe kind registered."""
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.schedule_support", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


if __name__ == "__main__":
    JOBS["probe"] = file_probe
    if sys.argv[1:2] == ["serve"]:
        # `mailer serve` leaves logging to uvicorn; here the scheduler's decisions are evidence.
        logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s: %(message)s")
    from mailer.cli import main

    sys.argv[0] = "mailer"
    main()

"""``mailer scheduler``: run the scheduler alone (no web server) until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

import typer

from mailer.cli.runtime import handle_errors, runtime
from mailer.context import AppContext
from mailer.schedules.runner import Scheduler
from mailer.store import db


@handle_errors
def scheduler(ctx: typer.Context) -> None:
    """Run the scheduler only: fire poll, digest and housekeeping schedules until stopped."""
    context = runtime(ctx).context
    configure_logging(context.settings.log_level)
    db.check_database(context.engine)
    asyncio.run(run_until_signalled(context))


async def run_until_signalled(context: AppContext) -> None:
    """Start a scheduler, wait for SIGTERM or SIGINT, stop it cleanly (jobs finish or are recorded)."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    engine = Scheduler(context)
    await engine.start()
    try:
        await stopping.wait()
    finally:
        await engine.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # APScheduler narrates every wake-up at INFO; our own log says what ran.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)

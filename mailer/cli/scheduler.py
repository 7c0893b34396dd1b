"""``mailer scheduler``: run the scheduler alone (no web server) until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

import typer

from mailer import schedules
from mailer.cli.metrics import METRICS_HOST, METRICS_PORT, process_metrics
from mailer.cli.runtime import handle_errors, runtime
from mailer.logs import configure_logging

if TYPE_CHECKING:
    from mailer.context import AppContext


@handle_errors
def scheduler(
    ctx: typer.Context,
    metrics_port: int | None = METRICS_PORT,
    metrics_host: str = METRICS_HOST,
) -> None:
    """Run the scheduler only: fire poll, digest and housekeeping schedules until stopped."""
    context = runtime(ctx).context
    configure_logging(context.settings.log_level, log_format=context.settings.log.format)
    with process_metrics(context, host=metrics_host, port=metrics_port):
        asyncio.run(run_until_signalled(context))


async def run_until_signalled(context: AppContext) -> None:
    """Run a scheduler with the job table until SIGTERM or SIGINT, then stop it cleanly."""
    from mailer.jobs import JOBS

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await schedules.run_scheduler(context, jobs=JOBS, until=stopping)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)

"""Send commands: ``digest send|status|resume|resend-unknown`` and ``worker``, over the delivery use cases.

The digest group itself belongs to the digest commands; :func:`register` adds the
send commands to it, so both halves share one ``mailer digest`` group.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from mailer import delivery, feeds, mail
from mailer.cli.metrics import METRICS_HOST, METRICS_PORT, process_metrics
from mailer.cli.output import say
from mailer.cli.runtime import EXIT_FAILED, fail, handle_errors, out_console, runtime
from mailer.config import Settings
from mailer.context import AppContext
from mailer.digest import create_edition
from mailer.logs import configure_logging
from mailer.models import DeliveryState, EditionState

#: The order states are shown in.
STATE_ORDER = [str(state) for state in DeliveryState]


def register(digest_app: typer.Typer) -> None:
    """Add the send commands to the ``digest`` group."""
    digest_app.command("send")(send_command)
    digest_app.command("status")(status_command)
    digest_app.command("resume")(resume_command)
    digest_app.command("resend-unknown")(resend_unknown_command)


# -- helpers ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def outbox_if_needed(settings: Settings) -> AsyncIterator[None]:
    """With no relay configured, make sure the built-in outbox listens while we send.

    When `mailer serve` runs, its outbox already holds the port and receives the mail.
    """
    if not settings.smtp.uses_outbox:
        yield
        return
    outbox = await mail.start_outbox(
        settings.outbox_dir, port=settings.smtp.outbox_port, reuse_running=True
    )
    try:
        yield
    finally:
        if outbox is not None:
            await outbox.stop()


def _counts_table(title: str, counts: dict[str, int]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("state")
    table.add_column("deliveries", justify="right")
    for state in STATE_ORDER:
        if counts.get(state):
            table.add_row(state, str(counts[state]))
    table.add_row("total", str(sum(counts.values())), style="bold")
    return table


def _print_edition_status(context: AppContext, edition_id: int) -> delivery.EditionStatus:
    edition = delivery.edition_status(context, edition_id)
    counts = edition.counts.by_state
    out_console.print(_counts_table(f"edition {edition.number} — {edition.state}", counts))
    if edition.state == EditionState.PAUSED and edition.reason:
        say(edition.reason, style="yellow")
    if counts.get(DeliveryState.UNKNOWN):
        say(
            f"{counts[DeliveryState.UNKNOWN]} deliveries were in flight when a connection or "
            "worker was lost: the relay may or may not have them. Resend them on purpose with "
            f"`mailer digest resend-unknown {edition.number}`.",
        )
    return edition


class _RateColumn(ProgressColumn):
    """Messages per second, from Rich's own speed estimate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} msg/s" if speed else "— msg/s")


async def _deliver_with_progress(context: AppContext, edition_id: int) -> delivery.WorkerSummary:
    """Run a worker until nothing is due, with a progress bar fed by the worker's running summary.

    The delivery counts are read twice, off the event loop: before, for the starting
    point and the total, and after, for the exact end state. In between the worker
    reports every batch of outcomes; a retried delivery counts once per attempt, so
    the bar is capped at the total until the final read puts it right.
    """

    def done_and_total() -> tuple[int, int]:
        counts = delivery.delivery_counts(context, edition_id).by_state
        waiting = counts.get(DeliveryState.QUEUED, 0) + counts.get(DeliveryState.SENDING, 0)
        total = sum(counts.values())
        return total - waiting, total

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    progress = Progress(
        TextColumn("[bold]sending"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=out_console,
        transient=False,
    )
    start, total = await context.database.run(done_and_total)
    task = progress.add_task("send", total=total, completed=start)

    def advance(summary: delivery.WorkerSummary) -> None:
        outcomes = summary.attempted + summary.skipped
        progress.update(task, completed=min(total, start + outcomes))

    with progress:
        try:
            async with outbox_if_needed(context.settings):
                summary = await delivery.run_worker(
                    context, stop=stop, until_idle=True, progress=advance
                )
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        done, total = await context.database.run(done_and_total)
        progress.update(task, completed=done, total=total)
    return summary


def _number(number: int | None) -> str:
    """An edition's number as staff read it; a skipped edition has none."""
    return "—" if number is None else str(number)


def _refuse_before_any_poll(context: AppContext) -> None:
    """Stop a new edition on an install whose feeds were never polled: it would carry no news."""
    waiting = feeds.never_polled(context)
    if waiting:
        raise fail(
            f"no feed has been polled yet ({waiting} registered), so a new edition would carry "
            "no news; nothing was created or sent. Poll them first with `mailer feeds poll` "
            "(or let the `poll` schedule of `mailer serve` do it), then send again"
        )


# -- digest commands ----------------------------------------------------------------------


@handle_errors
def send_command(
    ctx: typer.Context,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be sent; create, queue and send nothing."
    ),
    wait: bool = typer.Option(
        False, "--wait", help="Deliver in this process with a progress bar, then summarise."
    ),
    edition: int | None = typer.Option(
        None, "--edition", help="Send this existing edition (its number) instead of a new one."
    ),
) -> None:
    """Create the next edition now and queue it for every active subscriber (--wait: deliver it too)."""
    context = runtime(ctx).context
    audience = delivery.audience_size(context)
    if edition is None:
        _refuse_before_any_poll(context)
        if dry_run:
            say(
                f"dry run: a new edition would go to {audience} active subscribers; nothing was "
                "created or sent (`mailer digest preview` shows its content)"
            )
            return
        scheduled_for = datetime.now(UTC).replace(second=0, microsecond=0)
        edition_id = create_edition(context, schedule="manual", scheduled_for=scheduled_for).id
    else:
        edition_id = delivery.edition_id_for(context, edition)
    row = delivery.edition_status(context, edition_id)
    if row.state == EditionState.SKIPPED:
        # A skipped edition takes no number (issue 15 item 3): the next sent one gets it.
        say(f"the edition was skipped and got no number: {row.reason or 'no reason'}")
        return
    if dry_run:
        say(
            f"dry run: edition {row.number} ({row.state}) «{row.subject}» would be "
            f"queued for {audience} active subscribers; nothing was queued or sent"
        )
        return
    queued = delivery.queue_edition(context, edition_id)
    if queued:
        say(f"edition {row.number}: queued {queued} deliveries")
    else:
        say(f"edition {row.number} was already queued ({row.state})")
    if not wait:
        say("a running `mailer worker` or `mailer serve` sends them (or use --wait)", style="dim")
        return
    summary = asyncio.run(_deliver_with_progress(context, edition_id))
    edition_row = _print_edition_status(context, edition_id)
    if summary.recovered_unknown:
        say(f"{summary.recovered_unknown} deliveries of a stopped worker were marked unknown")
    if edition_row.state == EditionState.PAUSED:
        raise typer.Exit(EXIT_FAILED)


@handle_errors
def status_command(
    ctx: typer.Context,
    edition: int | None = typer.Argument(None, help="Edition number (default: recent editions)."),
) -> None:
    """Print deliveries by state for one edition, or for the most recent editions."""
    context = runtime(ctx).context
    if edition is not None:
        _print_edition_status(context, delivery.edition_id_for(context, edition))
        return
    editions = delivery.recent_editions(context)
    if not editions:
        say("no editions yet")
        return
    zone = context.settings.zone
    table = Table(title="recent editions", title_justify="left")
    table.add_column("edition", justify="right")
    table.add_column("for")
    table.add_column("state")
    for state in STATE_ORDER:
        table.add_column(state, justify="right")
    for row in editions:
        by_state = row.counts.by_state
        when = f"{row.scheduled_for.astimezone(zone):%Y-%m-%d %H:%M}" if row.scheduled_for else ""
        table.add_row(
            _number(row.number),
            when,
            row.state,
            *[str(by_state.get(state, 0)) for state in STATE_ORDER],
        )
    out_console.print(table)


@handle_errors
def resume_command(
    ctx: typer.Context,
    edition: int = typer.Argument(..., help="Number of the paused edition."),
) -> None:
    """Continue a paused edition; its deferred deliveries are retried at once."""
    context = runtime(ctx).context
    due = delivery.resume_edition(context, delivery.edition_id_for(context, edition))
    say(f"edition {edition} resumed; {due} deferred deliveries are due now")


@handle_errors
def resend_unknown_command(
    ctx: typer.Context,
    edition: int = typer.Argument(..., help="Edition number."),
) -> None:
    """Queue again the deliveries whose outcome is unknown (a reader may get the digest twice)."""
    context = runtime(ctx).context
    count = delivery.resend_unknown(context, delivery.edition_id_for(context, edition))
    if count:
        say(f"edition {edition}: {count} deliveries with an unknown outcome are queued again")
    else:
        say(f"edition {edition} has no delivery with an unknown outcome")


# -- worker -------------------------------------------------------------------------------


async def _run_worker_until_signalled(
    context: AppContext, *, until_idle: bool
) -> delivery.WorkerSummary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with outbox_if_needed(context.settings):
        return await delivery.run_worker(context, stop=stop, until_idle=until_idle)


@handle_errors
def worker(
    ctx: typer.Context,
    until_idle: bool = typer.Option(
        False, "--until-idle", help="Stop once nothing is queued or due (for cron-style runs)."
    ),
    metrics_port: int | None = METRICS_PORT,
    metrics_host: str = METRICS_HOST,
) -> None:
    """Deliver queued digests and notice mails until stopped (SIGTERM or Ctrl+C finish the messages in flight)."""
    context = runtime(ctx).context
    configure_logging(context.settings.log_level, log_format=context.settings.log.format)
    smtp = context.settings.smtp
    target = "the built-in outbox" if smtp.uses_outbox else f"{smtp.host}:{smtp.effective_port}"
    say(f"worker started: {smtp.connections} connections to {target}")
    with process_metrics(context, host=metrics_host, port=metrics_port):
        summary = asyncio.run(_run_worker_until_signalled(context, until_idle=until_idle))
    say(
        f"worker {summary.worker_id} stopped after {summary.elapsed:.1f} s: "
        f"sent {summary.sent}, deferred {summary.deferred}, failed {summary.failed}, "
        f"unknown {summary.unknown}, skipped {summary.skipped}"
        + (
            f", {summary.recovered_unknown} recovered as unknown"
            if summary.recovered_unknown
            else ""
        )
    )
    notices = summary.notices
    if notices.sent or notices.deferred or notices.failed or notices.unknown:
        say(
            f"notice mails: sent {notices.sent}, deferred {notices.deferred}, "
            f"failed {notices.failed}, unknown {notices.unknown}"
        )
    if notices.recovered_unknown:
        say(f"{notices.recovered_unknown} notice mails of a stopped worker were marked unknown")
    for reason in summary.paused.values():
        say(reason, style="yellow")

"""``mailer schedules``: list the schedules with their next run times, change their cron, pause, resume.

The same use cases as the admin's schedules page; called without a staff account they
act as the command line (no role to check: the shell owns the install) and their
changes are audited with the actor ``cli``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer

from mailer import schedules
from mailer.cli.output import echo, json_text, say
from mailer.cli.runtime import handle_errors, runtime

if TYPE_CHECKING:
    from mailer.schedules import SchedulerLiveness, ScheduleView

app = typer.Typer(no_args_is_help=True)


@app.command("list")
@handle_errors
def list_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    count: int = typer.Option(3, "--next", min=1, max=50, help="How many next run times to show."),
) -> None:
    """Show every schedule: state, cron, next run times in its local time, and its last run."""
    context = runtime(ctx).context
    now = datetime.now(UTC)
    views = schedules.list_schedule_views(context, now=now, count=count)
    liveness = schedules.scheduler_liveness(context, now=now)
    if as_json:
        body = {
            "scheduler": {
                "alive": liveness.alive,
                "message": liveness.message,
                "last_seen": liveness.last_seen.isoformat() if liveness.last_seen else None,
            },
            "schedules": [view.as_json() for view in views],
        }
        typer.echo(json_text(body))
    else:
        for view in views:
            echo("\n".join(describe_view(view)))
        if not views:
            typer.echo("no schedules (run `mailer init` to create the defaults)")
        if liveness.alive:
            echo(f"scheduler: {liveness.message}")
    warn_if_stale(liveness)


@app.command("set")
@handle_errors
def set_command(
    ctx: typer.Context,
    name: str = typer.Argument(
        ..., metavar="NAME", help="Schedule name (see `mailer schedules list`)."
    ),
    cron: list[str] = typer.Argument(
        ...,
        metavar="CRON",
        help="Five crontab fields in quotes: minute hour day-of-month month day-of-week, "
        "e.g. '0 9 * * mon' (Mondays 09:00) or '*/30 * * * *'. Weekdays by name.",
    ),
    timezone: str = typer.Option(
        None, "--timezone", help="IANA time zone of the cron fields, e.g. Asia/Seoul."
    ),
    grace: int = typer.Option(
        None, "--grace", help="Seconds a missed fire time may still run late at start-up."
    ),
) -> None:
    """Give a schedule a new cron expression; a running scheduler applies it within seconds."""
    context = runtime(ctx).context
    view = schedules.set_schedule(
        context, name, " ".join(cron), timezone=timezone, grace_seconds=grace
    )
    _report_change(context, view)


@app.command("pause")
@handle_errors
def pause_command(
    ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME", help="Schedule name.")
) -> None:
    """Stop a schedule from firing until it is resumed."""
    context = runtime(ctx).context
    _report_change(context, schedules.pause_schedule(context, name))


@app.command("resume")
@handle_errors
def resume_command(
    ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME", help="Schedule name.")
) -> None:
    """Let a paused schedule fire again (fire times during the pause are not made up)."""
    context = runtime(ctx).context
    _report_change(context, schedules.resume_schedule(context, name))


def _report_change(context, view: ScheduleView) -> None:
    echo("\n".join(describe_view(view)))
    seconds = context.settings.scheduler.reload_seconds
    liveness = schedules.scheduler_liveness(context)
    if liveness.alive:
        typer.echo(f"running schedulers apply this within {schedules.describe_seconds(seconds)}")
    warn_if_stale(liveness)


def describe_view(view: ScheduleView) -> list[str]:
    """The lines `schedules list` prints for one schedule."""
    zone = ZoneInfo(view.timezone) if not view.problem else ZoneInfo("UTC")
    lines = [
        f"{view.name} ({view.kind}): {view.state}",
        f"  cron      {view.cron}  ({view.timezone}), grace {schedules.describe_seconds(view.grace_seconds)}",
    ]
    if not view.problem:
        lines.append(f"  when      {view.described()}")
    if view.problem:
        lines.append(f"  problem   {view.problem}")
    elif view.enabled:
        shown = (
            ", ".join(schedules.format_local(moment, zone) for moment in view.next_runs) or "never"
        )
        lines.append(f"  next      {shown}")
    else:
        lines.append(f"  next      none while paused (`mailer schedules resume {view.name}`)")
    last = view.last_run
    if last is None:
        lines.append("  last run  none yet")
    else:
        reason = f" — {last['reason']}" if last["reason"] else ""
        lines.append(
            f"  last run  {schedules.format_local(last['fire_time'], zone)}: {last['outcome']}{reason}"
        )
    return lines


def warn_if_stale(liveness: SchedulerLiveness) -> None:
    if not liveness.alive:
        say(f"warning: {liveness.message}", err=True)

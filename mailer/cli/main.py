"""Top-level commands (init, serve, test-mail); the groups come lazily from ``cli.groups``.

Start-up cost matters here (``mailer --help`` ≤ 0.3 s): this module imports Typer, Rich and
the leaves only; each command imports what it uses when it runs.
"""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from mailer.cli.groups import LazyGroup
from mailer.cli.output import say
from mailer.cli.runtime import EXIT_FAILED, handle_errors, out_console, runtime

app = typer.Typer(
    cls=LazyGroup,
    name="mailer",
    help="Feed-driven newsletter service: poll feeds, build a weekly digest, mail subscribers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
@handle_errors
def init(ctx: typer.Context) -> None:
    """Create or upgrade the database schema and seed defaults (safe to run again)."""
    from mailer.seed import initialise

    context = runtime(ctx).context
    report = initialise(context)
    if report.revision_before != report.revision_after:
        out_console.print(
            f"schema upgraded: {report.revision_before or 'empty'} → {report.revision_after}"
        )
    else:
        out_console.print(f"schema up to date ({report.revision_after})")
    for item in report.seeded:
        out_console.print(f"seeded {item}")
    for note in report.notes:
        out_console.print(f"note: {note}")
    if not report.changed:
        out_console.print("nothing to change")


@app.command()
@handle_errors
def serve(
    ctx: typer.Context,
    host: str = typer.Option(None, help="Address to listen on (default: settings host)."),
    port: int = typer.Option(
        None, help="Port to listen on (default: settings port; 0: any free one, logged at start)."
    ),
    scheduler: bool = typer.Option(True, "--scheduler/--no-scheduler", help="Run the scheduler."),
    worker: bool = typer.Option(True, "--worker/--no-worker", help="Run a send worker."),
) -> None:
    """Run the web app, and with it the scheduler, a send worker and (without a relay) the outbox."""
    import asyncio

    from mailer.web.server import serve_forever

    context = runtime(ctx).context
    asyncio.run(
        serve_forever(
            context,
            host=host or context.settings.host,
            port=context.settings.port if port is None else port,
            scheduler=scheduler,
            worker=worker,
        )
    )


@app.command(name="test-mail")
@handle_errors
def test_mail(
    ctx: typer.Context,
    to: str = typer.Argument(..., help="Recipient address."),
) -> None:
    """Send one short test message through the service's mail path (relay or built-in outbox)."""
    import asyncio

    from mailer.delivery import send_test_mail
    from mailer.mail import relay_address

    context = runtime(ctx).context
    reply = asyncio.run(send_test_mail(context, to))
    host, port = relay_address(context.settings.smtp)
    say(f"sent to {to} via {host}:{port}: {reply}")


@app.command()
@handle_errors
def backup(
    ctx: typer.Context,
    target: Path = typer.Argument(..., help="The new file to write the copy to."),
) -> None:
    """Copy the SQLite database to TARGET while the service runs (online backup; PostgreSQL: pg_dump)."""
    from mailer.backup import backup_database

    done = backup_database(runtime(ctx).context, target)
    say(f"backed up to {done.path}: {done.size} bytes, {done.subscribers} subscribers")


class Role(enum.StrEnum):
    SCHEDULER = "scheduler"
    WORKER = "worker"


@app.command()
@handle_errors
def heartbeat(
    ctx: typer.Context,
    role: Role = typer.Argument(..., help="The process to look for: scheduler or worker."),
) -> None:
    """Exit 0 if a ROLE process on this host beat recently, else 1: a container healthcheck."""
    from mailer.schedules import beating_here

    alive = beating_here(runtime(ctx).context, role.value)
    if not alive:
        say(f"no {role} on this host has recorded a heartbeat recently")
        raise typer.Exit(EXIT_FAILED)
    say(f"{alive} {role}(s) on this host beating")


def main() -> None:
    app()

"""Top-level commands (init, serve, worker, scheduler, test-mail) and the group registry."""

from __future__ import annotations

import asyncio

import typer

from mailer.cli import groups
from mailer.cli.runtime import handle_errors, out_console, runtime
from mailer.errors import InvalidInputError
from mailer.mail import compose, relay_address, send_message
from mailer.seed import initialise

app = typer.Typer(
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
    if not report.changed:
        out_console.print("nothing to change")


@app.command()
@handle_errors
def serve(
    ctx: typer.Context,
    host: str = typer.Option(None, help="Address to listen on (default: settings host)."),
    port: int = typer.Option(None, help="Port to listen on (default: settings port)."),
    scheduler: bool = typer.Option(True, "--scheduler/--no-scheduler", help="Run the scheduler."),
    worker: bool = typer.Option(True, "--worker/--no-worker", help="Run a send worker."),
) -> None:
    """Run the web app, and with it the scheduler, a send worker and (without a relay) the outbox."""
    from mailer.web.server import serve_forever

    context = runtime(ctx).context
    asyncio.run(
        serve_forever(
            context,
            host=host or context.settings.host,
            port=port or context.settings.port,
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
    settings = runtime(ctx).settings
    try:
        message = compose(
            settings.compliance,
            to=to,
            subject="mailer 시험 메일 / test message",
            text="메일 경로가 동작합니다.\nThe mail path works.\n",
        )
    except ValueError as exc:  # the stdlib refuses CR/LF and malformed addresses
        raise InvalidInputError(f"invalid recipient address: {exc}", field="to") from None
    reply = asyncio.run(send_message(settings.smtp, message))
    host, port = relay_address(settings.smtp)
    out_console.print(f"sent to {to} via {host}:{port}: {reply}")


groups.register(app)


def main() -> None:
    app()

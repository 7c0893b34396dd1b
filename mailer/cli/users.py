"""``mailer users …``: add staff users (a one-time set-password link, or a password from stdin), list, disable, enable, reset."""

from __future__ import annotations

import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from mailer import staff
from mailer.cli.output import cell, json_text, say
from mailer.cli.runtime import handle_errors, out_console, runtime
from mailer.errors import InvalidInputError

app = typer.Typer(no_args_is_help=True, help="Manage staff users.")

ROLE_HELP = "admin (everything) or editor (templates, seminar block, preview, test send to self)."


def _local(ctx: typer.Context, moment: datetime) -> str:
    zone = ZoneInfo(runtime(ctx).settings.timezone)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _print_link(ctx: typer.Context, link: staff.PasswordLink) -> None:
    say(
        f"one-time link to set the password, valid until {_local(ctx, link.expires_at)} "
        "(24 h), works once:"
    )
    # Alone on its line, unescaped markup-free, so that it can be copied or cut out by a script.
    typer.echo(link.url)


def _read_password() -> str:
    password = sys.stdin.read()
    # A trailing newline comes from `echo` or a file, not from the password.
    password = password[:-1] if password.endswith("\n") else password
    password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise InvalidInputError("--password-stdin read no password", field="password")
    return password


@app.command()
@handle_errors
def add(
    ctx: typer.Context,
    email: str = typer.Argument(..., metavar="EMAIL", help="The staff member's address."),
    role: str = typer.Option(..., "--role", metavar="admin|editor", help=ROLE_HELP),
    password_stdin: bool = typer.Option(
        False,
        "--password-stdin",
        help="Read the password from standard input instead of printing a link.",
    ),
) -> None:
    """Add a staff user and print a one-time link (24 h) that sets the password."""
    context = runtime(ctx).context
    password = _read_password() if password_stdin else None
    user, link = staff.add_user(context, email, role=role, password=password)
    say(f"added {user.role} {user.email}" + (" with the password given" if link is None else ""))
    if link is not None:
        _print_link(ctx, link)


@app.command("list")
@handle_errors
def list_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List staff users: role, state (active, invited = no password yet, disabled), since when."""
    users = staff.list_users(runtime(ctx).context)
    if as_json:
        typer.echo(json_text([user.as_json() for user in users]))
        return
    if not users:
        say("no staff users (`mailer users add EMAIL --role admin`)")
        return
    table = Table("email", "role", "state", "since", "password set")
    for user in users:
        password_set = _local(ctx, user.password_set_at) if user.has_password else "-"
        table.add_row(
            *map(
                cell,
                (
                    user.email,
                    user.role,
                    user.state,
                    user.created_at.date().isoformat(),
                    password_set,
                ),
            )
        )
    out_console.print(table)


@app.command()
@handle_errors
def disable(
    ctx: typer.Context,
    email: str = typer.Argument(..., metavar="EMAIL", help="The user's address."),
) -> None:
    """Stop a user from logging in (their unused links stop working too)."""
    user = staff.disable_user(runtime(ctx).context, email)
    say(f"disabled {user.email}")


@app.command()
@handle_errors
def enable(
    ctx: typer.Context,
    email: str = typer.Argument(..., metavar="EMAIL", help="The user's address."),
) -> None:
    """Let a disabled user log in again."""
    user = staff.enable_user(runtime(ctx).context, email)
    say(f"enabled {user.email} ({user.state})")


@app.command()
@handle_errors
def reset(
    ctx: typer.Context,
    email: str = typer.Argument(..., metavar="EMAIL", help="The user's address."),
) -> None:
    """Print a new one-time link; the current password and earlier links stop working."""
    link = staff.reset_link(runtime(ctx).context, email)
    say(f"password of {link.email} cleared")
    _print_link(ctx, link)

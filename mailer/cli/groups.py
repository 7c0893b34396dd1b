"""The command groups of design §3; a group whose issue has not landed answers "not available yet"."""

from __future__ import annotations

from collections.abc import Callable

import typer

from mailer.cli.runtime import not_available

#: name → one-line help. Built groups replace their placeholder in ``BUILT``.
PLANNED = {
    "feeds": "Manage and poll news feeds.",
    "digest": "Preview, send and inspect digest editions.",
    "subscribers": "Import, export, list, add, remove and erase subscribers.",
    "schedules": "List and edit the cron schedules of poll, digest and housekeeping jobs.",
    "templates": "Export and import the digest templates.",
    "users": "Manage staff users.",
    "tokens": "Create API tokens for staff users.",
    "worker": "Run a send worker only (run several for scale-out).",
    "scheduler": "Run the scheduler only.",
}


def built_groups() -> dict[str, typer.Typer]:
    """Groups that exist; imported here so the ladder stays one-way (cli imports use cases)."""
    from mailer.cli import delivery, feeds, schedules, subscribers
    from mailer.cli.digest import app as digest_app

    delivery.register(digest_app)  # send, status, resume, resend-unknown
    return {
        "feeds": feeds.app,
        "digest": digest_app,
        "schedules": schedules.app,
        "subscribers": subscribers.app,
    }


def built_commands() -> dict[str, Callable[..., None]]:
    """Planned names that are single commands rather than groups (worker, scheduler)."""
    from mailer.cli.delivery import worker
    from mailer.cli.scheduler import scheduler

    return {"scheduler": scheduler, "worker": worker}


def register(app: typer.Typer) -> None:
    built = built_groups()
    commands = built_commands()
    for name, help_text in PLANNED.items():
        if name in built:
            app.add_typer(built[name], name=name, help=help_text)
        elif name in commands:
            app.command(name=name, help=help_text)(commands[name])
        else:
            _add_placeholder(app, name, help_text)


def _add_placeholder(app: typer.Typer, name: str, help_text: str) -> None:
    @app.command(
        name=name,
        help=f"{help_text} (not available yet)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def placeholder(ctx: typer.Context) -> None:
        raise not_available(f"`mailer {name}`")

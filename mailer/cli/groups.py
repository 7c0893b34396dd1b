"""The command groups of design §3, each imported only when it runs; unbuilt ones say "not available yet".

``mailer --help`` lists every group from :data:`PLANNED` without importing any of them, so
start-up costs Typer and Rich only; ``mailer feeds list`` imports ``mailer.cli.feeds`` and
nothing of the other groups (:class:`LazyGroup`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from mailer.cli.runtime import not_available

#: name → one-line help, in the order ``mailer --help`` lists them.
PLANNED = {
    "feeds": "Manage and poll news feeds.",
    "digest": "Preview, send and inspect digest editions.",
    "subscribers": "Import, export, list, add, remove and erase subscribers.",
    "schedules": "List and edit the cron schedules of poll, digest and housekeeping jobs.",
    "templates": "List, export, import and reset the mail templates' versions.",
    "users": "Manage staff users.",
    "tokens": "Create API tokens for staff users.",
    "worker": "Run a send worker only (run several for scale-out).",
    "scheduler": "Run the scheduler only.",
}


def _feeds() -> typer.Typer:
    from mailer.cli import feeds

    return feeds.app


@functools.cache  # register() adds commands to a module-level app: do it once per process
def _digest() -> typer.Typer:
    from mailer.cli import delivery
    from mailer.cli.digest import app

    delivery.register(app)  # send, status, resume, resend-unknown
    return app


def _subscribers() -> typer.Typer:
    from mailer.cli import subscribers

    return subscribers.app


def _schedules() -> typer.Typer:
    from mailer.cli import schedules

    return schedules.app


def _templates() -> typer.Typer:
    from mailer.cli import templates

    return templates.app


def _users() -> typer.Typer:
    from mailer.cli import users

    return users.app


def _worker() -> Callable[..., None]:
    from mailer.cli.delivery import worker

    return worker


def _scheduler() -> Callable[..., None]:
    from mailer.cli.scheduler import scheduler

    return scheduler


#: Planned names that exist: name → loader of the group (a Typer) or of the single command.
BUILT: dict[str, Callable[[], typer.Typer | Callable[..., None]]] = {
    "feeds": _feeds,
    "digest": _digest,
    "subscribers": _subscribers,
    "schedules": _schedules,
    "templates": _templates,
    "users": _users,
    "worker": _worker,
    "scheduler": _scheduler,
}


class LazyGroup(TyperGroup):
    """The root group: planned names are listed from PLANNED and loaded when invoked.

    Help only needs a name and a line, so until a group runs it is a stand-in command;
    resolving it for a run (``mailer feeds …``, ``mailer feeds --help``) swaps in the
    real group, built exactly as ``add_typer`` would.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, help_text in PLANNED.items():
            if name not in BUILT:
                help_text = f"{help_text} (not available yet)"
            self.commands.setdefault(name, _StandIn(name, help=help_text))

    def resolve_command(self, ctx, args):  # type: ignore[no-untyped-def]
        if args and isinstance(self.commands.get(args[0]), _StandIn):
            self.commands[args[0]] = load_command(args[0])
        return super().resolve_command(ctx, args)


class _StandIn(TyperCommand):
    """What help shows of a group not loaded yet; never invoked (see LazyGroup)."""


def load_command(name: str) -> Any:
    """The click command of the planned ``name``: its group, its command or a placeholder."""
    help_text = PLANNED[name]
    holder = typer.Typer()
    loader = BUILT.get(name)
    target = loader() if loader is not None else None
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name, help=help_text)
    elif target is not None:
        holder.command(name=name, help=help_text)(target)
    else:
        _add_placeholder(holder, name, help_text)
    return typer.main.get_group(holder).commands[name]


def _add_placeholder(app: typer.Typer, name: str, help_text: str) -> None:
    @app.command(
        name=name,
        help=f"{help_text} (not available yet)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def placeholder(ctx: typer.Context) -> None:
        raise not_available(f"`mailer {name}`")

"""What every command shares: building settings and context once, and turning errors into exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.markup import escape

from mailer.cli.output import err_console, out_console, shown
from mailer.errors import (
    ConfigError,
    InvalidInputError,
    MailerError,
    NotAvailableError,
    NotFoundError,
)

if TYPE_CHECKING:  # imported when first used: `mailer --help` needs neither pydantic nor SQLAlchemy
    from mailer.config import Settings
    from mailer.context import AppContext

__all__ = ["err_console", "out_console", "fail", "handle_errors", "not_available", "runtime"]

#: Exit codes: 1 = the operation failed, 2 = bad usage or configuration (like Typer's own).
EXIT_FAILED = 1
EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., Any])


class Runtime:
    """Holds the settings and context of this invocation; built lazily, closed at exit."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._context: AppContext | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from mailer.config import load_settings
            from mailer.logs import configure_logging

            self._settings = load_settings()
            # Every command logs through the redacting handler: a one-shot `digest send
            # --wait` or `feeds poll` runs the same code as the worker, and Python's
            # last-resort handler would print its warnings unredacted (issue 11 item 7).
            # One-shot commands print their own summary, so only warnings and errors;
            # serve, worker and scheduler raise this to the configured level.
            configure_logging("warning", log_format=self._settings.log.format)
        return self._settings

    @property
    def context(self) -> AppContext:
        if self._context is None:
            from mailer.bootstrap import build_context, refuse_another_secret

            context = build_context(self.settings)
            try:
                refuse_another_secret(context)
            except BaseException:
                context.close()
                raise
            self._context = context
        return self._context

    def close(self) -> None:
        if self._context is not None:
            self._context.close()


def runtime(ctx: typer.Context) -> Runtime:
    root = ctx.find_root()
    if not isinstance(root.obj, Runtime):
        root.obj = Runtime()
        root.call_on_close(root.obj.close)
    return root.obj


def fail(message: str, *, code: int = EXIT_FAILED) -> typer.Exit:
    # Messages quote user input (URLs, names) that may contain "[...]" or control
    # characters: never markup, every unsafe character escaped (cli.output).
    err_console.print(f"[bold red]error:[/] {escape(shown(message))}", soft_wrap=True)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Map MailerError subclasses to one clear line on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            raise fail(str(exc), code=EXIT_USAGE) from None
        except (NotAvailableError, InvalidInputError) as exc:
            raise fail(str(exc), code=EXIT_USAGE) from None
        except NotFoundError as exc:
            raise fail(str(exc), code=EXIT_FAILED) from None
        except MailerError as exc:
            raise fail(str(exc), code=EXIT_FAILED) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def not_available(feature: str) -> typer.Exit:
    return fail(f"{feature} is not available yet in this version", code=EXIT_USAGE)

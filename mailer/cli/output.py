"""Print text from outside (feeds, forms, relays, databases) on a staff terminal without letting it act.

Feed titles, subscriber names, SMTP replies and stored error messages are written by
strangers. Every command prints them through this module: each control, bidi and
zero-width character becomes a visible escape (``\\x1b``, ``\\u202e``; the rule is
``mailer.unsafe_text``), and nothing is read as Rich markup, so ``[red]`` or
``[link=…]`` in a feed title is shown as typed (issue 11). JSON output keeps every
stored value exactly — such characters are written as JSON escapes, which scripts
read back unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from mailer.unsafe_text import escape_unsafe

# soft_wrap: a path or URL in a message must stay on one line, whatever the terminal width,
# so that it can be copied and scripts can match it.
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)


def shown(value: object, /) -> str:
    """``value`` as one line a terminal can show: every unsafe character escaped (newline too)."""
    return escape_unsafe(str(value))


def cell(value: object, /) -> Text:
    """A table cell: escaped, and a ``Text`` so that Rich never parses it as markup."""
    return Text(shown("" if value is None else value))


def say(message: object, /, *, style: str | None = None, err: bool = False) -> None:
    """Print one line that may quote outside text: escaped, never markup, never wrapped."""
    console = err_console if err else out_console
    console.print(Text(shown(message), style=style or ""), soft_wrap=True)


def echo(message: object, /) -> None:
    """Like :func:`say` on standard output, through Typer's plain echo (no Rich formatting)."""
    typer.echo(escape_unsafe(str(message), allow="\n"))


def document(text: str, /) -> str:
    """A multi-line document for the terminal (a text or HTML preview): lines and tabs kept."""
    return escape_unsafe(text, allow="\n\t")


def json_text(data: Any, /) -> str:
    """``data`` as indented JSON whose strings carry no raw control, bidi or zero-width character."""
    return escape_unsafe(json.dumps(data, ensure_ascii=False, indent=2), allow="\n", json=True)

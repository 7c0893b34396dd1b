"""Render the service's own notice mails (confirmation, result notices, re-confirmation) from templates/email/.

These templates are ours, not staff-edited, so a plain autoescaping Jinja2 environment
is enough (staff templates use the sandbox, design §4). Each ``<name>.txt.j2`` sets
``subject`` at the top; ``<name>.html.j2`` is the HTML alternative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2 import TemplateError as JinjaTemplateError

from mailer.errors import TemplateError


@dataclass(frozen=True, slots=True)
class RenderedNotice:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=8)
def _environment(directory: str) -> Environment:
    return Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def local_time(moment: datetime | None, zone: ZoneInfo) -> str:
    """A time as people read it in mail: local zone, minutes, zone abbreviation."""
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def render_notice(templates_dir: Path, name: str, variables: dict[str, Any]) -> RenderedNotice:
    """Render ``email/<name>.txt.j2`` and ``email/<name>.html.j2``; the subject comes from the text one."""
    env = _environment(str(templates_dir / "email"))
    try:
        text_module = env.get_template(f"{name}.txt.j2").make_module(variables)
        html = env.get_template(f"{name}.html.j2").render(variables)
    except JinjaTemplateError as exc:
        raise TemplateError(str(exc), template=name, line=getattr(exc, "lineno", None)) from exc
    subject = str(getattr(text_module, "subject", "")).strip()
    if not subject:
        raise TemplateError("does not set a subject", template=f"{name}.txt.j2")
    return RenderedNotice(subject=subject, text=str(text_module).lstrip("\n"), html=html)

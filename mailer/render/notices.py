"""Render the service's own notice mails (confirmation, result notices, re-confirmation) from templates/email/.

They render through the same sandboxed :class:`~mailer.render.sandbox.MailRenderer`
as the digest — one set of rules (escaping, plain-data context, errors naming the
template) for every template in ``templates/email`` — with Jinja's default whitespace,
which these templates are written for. Each ``<name>.txt.j2`` sets ``subject`` at the
top; ``<name>.html.j2`` is the HTML alternative.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mailer.errors import TemplateError
from mailer.render.sandbox import MailRenderer


@dataclass(frozen=True, slots=True)
class RenderedNotice:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=8)
def _renderer(directory: Path) -> MailRenderer:
    # Compiled templates are kept per directory (and reloaded when a file changes).
    return MailRenderer(directory, trim_blocks=False)


def render_notice(templates_dir: Path, name: str, variables: dict[str, Any]) -> RenderedNotice:
    """Render ``email/<name>.txt.j2`` and ``email/<name>.html.j2``; the subject comes from the text one."""
    renderer = _renderer(templates_dir / "email")
    text, subject = renderer.render_setting(f"{name}.txt.j2", variables, variable="subject")
    html = renderer.render(f"{name}.html.j2", variables)
    subject = str(subject).strip()
    if not subject:
        raise TemplateError("does not set a subject", template=f"{name}.txt.j2")
    return RenderedNotice(subject=subject, text=text.lstrip("\n"), html=html)

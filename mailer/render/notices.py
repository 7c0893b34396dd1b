"""Render the service's own notice mails (confirmation, result notices, re-confirmation) from templates/email/.

They render through the same sandboxed, bounded :class:`~mailer.render.bounded.MailRenderer`
as the digest — one set of rules (escaping, plain-data context, errors naming the
template) for every template in ``templates/email`` — with Jinja's default whitespace,
which these templates are written for. Each ``<name>.txt.j2`` sets ``subject`` at the
top; ``<name>.html.j2`` is the HTML alternative.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailer.errors import TemplateError
from mailer.render.bounded import LiveMailRenderer, MailRenderer
from mailer.render.pool import RenderPool


@dataclass(frozen=True, slots=True)
class RenderedNotice:
    subject: str
    text: str
    html: str


def notice_renderer(
    directory: Path,
    /,
    *,
    max_bytes: int,
    pool: RenderPool | None = None,
    sources: Callable[[], Mapping[str, str]] | None = None,
) -> MailRenderer:
    """The renderer of the notice templates in ``directory`` (bootstrap keeps one per process,
    on the process's render pool: compiled templates are kept, and reloaded when a file changes).

    ``sources``, when given, is asked at every render for the active template versions
    staff saved (the database's); they go over the files.
    """
    if sources is not None:
        return LiveMailRenderer(
            directory, sources=sources, max_bytes=max_bytes, trim_blocks=False, pool=pool
        )
    return MailRenderer(directory, max_bytes=max_bytes, trim_blocks=False, pool=pool)


def render_notice(renderer: MailRenderer, name: str, variables: dict[str, Any]) -> RenderedNotice:
    """Render ``<name>.txt.j2`` and ``<name>.html.j2``; the subject comes from the text one."""
    text, subject = renderer.render_setting(f"{name}.txt.j2", variables, variable="subject")
    html = renderer.render(f"{name}.html.j2", variables)
    subject = str(subject).strip()
    if not subject:
        raise TemplateError("does not set a subject", template=f"{name}.txt.j2")
    return RenderedNotice(subject=subject, text=text.lstrip("\n"), html=html)

"""MailRenderer: render mail templates in the sandbox, in a render process bounded in time and memory.

What callers use to render a template staff can edit (digest parts, notices, and
the admin's previews): the same methods as the in-process sandbox
(:class:`mailer.render.sandbox.SandboxRenderer`), but the work runs in a render
process of a :class:`~mailer.render.pool.RenderPool`, so that no template can hang
or exhaust the web process or the scheduler (design §4 "Security rules"). The
context is checked here (plain data only, :func:`~mailer.render.plain.ensure_plain`)
and crosses to the process pickled; the template directory and any in-memory
sources go as their path and text.

This process loads no Jinja2 to render: only the render processes do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from mailer.render.child import RendererSetup, RenderJob
from mailer.render.limits import MAX_PART_BYTES
from mailer.render.plain import ensure_plain
from mailer.render.pool import RenderPool


class MailRenderer:
    """Renders the mail templates of one directory (plus overrides) in the sandbox, bounded.

    ``trim_blocks`` is Jinja's whitespace rule (with ``lstrip_blocks``): the digest
    templates staff edit are written for it — a line holding only a block tag leaves
    no blank line —, the service's notice templates without it. ``pool`` is where the
    renders run (bootstrap shares one per process); without it the renderer starts a
    pool of its own with the default limits, ended by :meth:`close` or when the
    renderer is dropped.
    """

    def __init__(
        self,
        directory: Path | None,
        /,
        *,
        overrides: Mapping[str, str] | None = None,
        max_bytes: int = MAX_PART_BYTES,
        trim_blocks: bool = True,
        pool: RenderPool | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self._setup = RendererSetup(
            # Absolute: the render processes come from a fork server, which kept the
            # working directory it started in.
            directory=Path(directory).absolute() if directory is not None else None,
            overrides=tuple(sorted((overrides or {}).items())),
            max_bytes=max_bytes,
            trim_blocks=trim_blocks,
        )
        self._owns_pool = pool is None
        self.pool = pool if pool is not None else RenderPool()

    def render(self, name: str, context: Mapping[str, Any], /) -> str:
        """Render one template with a plain-data context; raise TemplateError on any failure."""
        return self._run("render", name, context)

    def render_setting(
        self, name: str, context: Mapping[str, Any], /, *, variable: str
    ) -> tuple[str, Any]:
        """Render a template and return (output, the value it gave ``variable`` with
        ``{% set %}``, or "" when it set none) — how a notice template says its subject.
        A value that is not plain data comes back as its text."""
        output, value = self._run("render_setting", name, context, variable=variable)
        return output, value

    def render_html(self, name: str, context: Mapping[str, Any], /) -> str:
        """Render an HTML template and inline its CSS (mail clients drop <style> blocks).

        A ``<style data-css-inline="keep">`` block (media queries for phones and dark
        mode) is left in place for the clients that honour it.
        """
        return self._run("render_html", name, context)

    def render_text(self, name: str, context: Mapping[str, Any], /, *, width: int) -> str:
        """Render a plain-text template and wrap it to ``width`` columns (Korean counts 2)."""
        return self._run("render_text", name, context, width=width)

    def render_line(self, name: str, context: Mapping[str, Any], /) -> str:
        """Render a one-line template (a subject): whitespace collapsed, no line breaks."""
        return self._run("render_line", name, context)

    def close(self) -> None:
        """End the render processes of a pool this renderer started (a shared pool stays)."""
        if self._owns_pool:
            self.pool.close()

    def _run(self, method: str, name: str, context: Mapping[str, Any], /, **options: Any) -> Any:
        plain = dict(context)
        ensure_plain(plain)
        return self.pool.run(
            RenderJob(self._setup, method=method, name=name, context=plain, options=options)
        )


class LiveMailRenderer(MailRenderer):
    """A MailRenderer whose in-memory sources are asked for at every render.

    ``sources`` returns {template name: source} — the active template versions staff
    saved (bootstrap reads them from the database); a name it leaves out comes from
    the directory. So a long-running process renders each notice with the version
    active when the notice is built, without being restarted after a save.
    """

    def __init__(
        self, directory: Path | None, /, *, sources: Callable[[], Mapping[str, str]], **options: Any
    ) -> None:
        super().__init__(directory, **options)
        self._sources = sources

    def _run(self, method: str, name: str, context: Mapping[str, Any], /, **options: Any) -> Any:
        plain = dict(context)
        ensure_plain(plain)
        setup = replace(self._setup, overrides=tuple(sorted(self._sources().items())))
        return self.pool.run(
            RenderJob(setup, method=method, name=name, context=plain, options=options)
        )

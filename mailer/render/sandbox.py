"""The Jinja2 sandbox every mail template renders in: staff-edited digest parts and our notices.

Safety (design §4 "Templates", compliance.md "Security notes"):

- Templates run in ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``; HTML
  templates (``*.html.j2``) are autoescaped, text and subject templates are not.
- The context must be plain data (``str``/``int``/``float``/``bool``/``None`` in
  ``dict``/``list``/``tuple``); anything else, including ``Markup``, is refused, so
  nothing reaches a template that could bypass escaping or expose methods.
- The ``safe`` filter and ``{% autoescape %}`` blocks are not available: story text
  from feeds is always escaped. Only http(s) URLs may be put into links (the digest
  step checks story URLs before they reach the context).
- Output is capped (``max_bytes`` per part) so a runaway loop fails instead of
  filling memory; every template failure becomes :class:`TemplateError` with the
  template name, the line number and a readable message.

Per-subscriber values travel as markers (:mod:`mailer.render.markers`); plain-text
parts are wrapped by :mod:`mailer.render.text`. The service's own notice templates
render through the same class (:mod:`mailer.render.notices`): one set of rules for
every template in ``templates/email``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import css_inline
from jinja2 import (
    BaseLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
    nodes,
)
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailer.errors import TemplateError
from mailer.render.text import tidy_text

#: Default cap on one rendered part (UTF-8 bytes); Settings.digest.max_part_bytes overrides it.
MAX_PART_BYTES = 2_000_000

_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})

T = TypeVar("T")


class _TemplateSource(BaseLoader):
    """Templates from a directory, with optional in-memory overrides (staff edits, tests).

    The "filename" Jinja sees is the template name itself, so tracebacks and error
    messages name the template the way staff know it, never a server path.
    """

    def __init__(self, directory: Path | None, overrides: Mapping[str, str] | None) -> None:
        self.directory = directory
        self.overrides = dict(overrides or {})

    def get_source(self, environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        if template in self.overrides:
            return self.overrides[template], template, lambda: True
        if self.directory is None:
            raise TemplateNotFound(template)
        # split_template_path refuses ".." so a template name cannot leave the directory.
        path = self.directory.joinpath(*split_template_path(template))
        try:
            source = path.read_text("utf-8")
            mtime = path.stat().st_mtime
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise TemplateNotFound(template) from None
        except UnicodeDecodeError as exc:
            raise TemplateError("the file is not valid UTF-8", template=template) from exc

        def uptodate() -> bool:
            try:
                return path.stat().st_mtime == mtime
            except OSError:
                return False

        return source, template, uptodate


class _MailTemplateEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, minus the two ways a template could switch escaping off."""

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for node in tree.find_all((nodes.ScopedEvalContextModifier, nodes.EvalContextModifier)):
            raise TemplateSyntaxError(
                "{% autoescape %} is not allowed in mail templates (feed text must stay escaped)",
                node.lineno,
                name,
                filename,
            )
        return tree


def _autoescape(name: str | None) -> bool:
    return bool(name) and name.endswith((".html.j2", ".html"))


class MailRenderer:
    """Renders the mail templates of one directory (plus overrides) in the sandbox.

    ``trim_blocks`` is Jinja's whitespace rule (with ``lstrip_blocks``): the digest
    templates staff edit are written for it — a line holding only a block tag leaves
    no blank line —, the service's notice templates without it.
    """

    def __init__(
        self,
        directory: Path | None,
        /,
        *,
        overrides: Mapping[str, str] | None = None,
        max_bytes: int = MAX_PART_BYTES,
        trim_blocks: bool = True,
    ) -> None:
        self.max_bytes = max_bytes
        self.environment = _MailTemplateEnvironment(
            loader=_TemplateSource(directory, overrides),
            autoescape=_autoescape,
            undefined=StrictUndefined,
            trim_blocks=trim_blocks,
            lstrip_blocks=trim_blocks,
            keep_trailing_newline=True,
            auto_reload=True,
        )
        # |safe would let feed text through unescaped (compliance.md "Security notes").
        self.environment.filters.pop("safe", None)
        self._inliner = css_inline.CSSInliner(load_remote_stylesheets=False)

    def render(self, name: str, context: Mapping[str, Any], /) -> str:
        """Render one template with a plain-data context; raise TemplateError on any failure."""
        return self._guarded(
            name,
            context,
            lambda template: _join_capped(
                template.generate(context), limit=self.max_bytes, name=name
            ),
        )

    def render_setting(
        self, name: str, context: Mapping[str, Any], /, *, variable: str
    ) -> tuple[str, Any]:
        """Render a template and return (output, the value it gave ``variable`` with
        ``{% set %}``, or "" when it set none) — how a notice template says its subject."""

        def render_module(template: Template) -> tuple[str, Any]:
            module = template.make_module(dict(context))
            output = str(module)
            if len(output.encode("utf-8")) > self.max_bytes:
                raise TemplateError(
                    f"output is larger than {self.max_bytes} bytes (a loop running away?)",
                    template=name,
                )
            return output, getattr(module, variable, "")

        return self._guarded(name, context, render_module)

    def render_html(self, name: str, context: Mapping[str, Any], /) -> str:
        """Render an HTML template and inline its CSS (mail clients drop <style> blocks).

        A ``<style data-css-inline="keep">`` block (media queries for phones and dark
        mode) is left in place for the clients that honour it.
        """
        rendered = self.render(name, context)
        try:
            return self._inliner.inline(rendered)
        except ValueError as exc:  # css-inline reports bad CSS as ValueError
            raise TemplateError(f"CSS could not be inlined: {exc}", template=name) from exc

    def render_text(self, name: str, context: Mapping[str, Any], /, *, width: int) -> str:
        """Render a plain-text template and wrap it to ``width`` columns (Korean counts 2)."""
        return tidy_text(self.render(name, context), width=width)

    def render_line(self, name: str, context: Mapping[str, Any], /) -> str:
        """Render a one-line template (a subject): whitespace collapsed, no line breaks."""
        return " ".join(self.render(name, context).split())

    def _guarded(
        self, name: str, context: Mapping[str, Any], render: Callable[[Template], T], /
    ) -> T:
        """Check the context, load the template and ``render`` it; every failure → TemplateError."""
        ensure_plain(dict(context))
        try:
            return render(self.environment.get_template(name))
        except TemplateError:
            raise
        except TemplateSyntaxError as exc:
            raise TemplateError(
                _readable(exc.message or str(exc)), template=exc.name or name, line=exc.lineno
            ) from exc
        except TemplateNotFound as exc:
            where, line = _template_position(exc)  # an {% include %} of a missing template
            raise TemplateError(
                f"template {exc.name!r} not found", template=where or name, line=line
            ) from exc
        except Exception as exc:  # noqa: BLE001 — any failure inside template code is the template's
            where, line = _template_position(exc)
            raise TemplateError(
                _readable(f"{exc.__class__.__name__}: {exc}"), template=where or name, line=line
            ) from exc


def _join_capped(chunks: Iterable[str], *, limit: int, name: str) -> str:
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk.encode("utf-8"))
        if size > limit:
            close = getattr(chunks, "close", None)
            if close:
                close()
            raise TemplateError(
                f"output is larger than {limit} bytes (a loop running away?)", template=name
            )
        parts.append(chunk)
    return "".join(parts)


def _template_position(exc: BaseException) -> tuple[str | None, int | None]:
    """The innermost template frame of a rendering error: (template name, line).

    Jinja rewrites tracebacks so that template frames carry the template's filename
    (our loader makes that the template name) and its source line.
    """
    found: tuple[str | None, int | None] = (None, None)
    tb = exc.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _readable(message: str) -> str:
    message = message.removeprefix("UndefinedError: ").removeprefix("SecurityError: ")
    if message.endswith("is undefined"):
        return f"{message} (the template uses a name it does not receive)"
    if "unsafe" in message or "immutable" in message:
        return f"refused by the sandbox: {message}"
    return message


def ensure_plain(value: Any, path: str = "context") -> None:
    """Refuse anything but plain data: exact str/int/float/bool/None in dicts, lists, tuples."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return
    if kind in (list, tuple):
        for index, item in enumerate(value):
            ensure_plain(item, f"{path}[{index}]")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"{path} has a key that is not a string: {key!r}")
            ensure_plain(item, f"{path}.{key}")
        return
    raise TypeError(f"{path} is a {kind.__name__}; mail templates get plain data only")

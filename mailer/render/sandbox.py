"""The Jinja2 sandbox every mail template renders in: staff-edited digest parts and our notices.

This module runs inside the render process (:mod:`mailer.render.child`), which adds
the time and memory limits; callers use :class:`mailer.render.MailRenderer`, which
sends the work there. :class:`SandboxRenderer` is the same renderer in this process.

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
- Cheap guards refuse the one-operator blow-ups before they allocate (issue 11):
  ``*`` repeating a string or list to more than ``max_bytes`` items, and ``**``
  with an integer result of more than :data:`MAX_POWER_BITS` bits. They are
  defence in depth; the render process's limits are what bound a template.

Per-subscriber values travel as markers (:mod:`mailer.render.markers`); plain-text
parts are wrapped by :mod:`mailer.render.text`. The service's own notice templates
render through the same class (:mod:`mailer.render.notices`): one set of rules for
every template in ``templates/email``.
"""

from __future__ import annotations

import operator
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
from mailer.particles import particle_for, with_particle
from mailer.render.limits import MAX_PART_BYTES
from mailer.render.plain import ensure_plain
from mailer.render.text import tidy_text

#: Largest integer ``**`` may make. Python cannot even print an integer of more than
#: 4300 digits (about 14,300 bits); ``10 ** (10 ** 8)`` would compute for minutes.
MAX_POWER_BITS = 100_000

T = TypeVar("T")


class _Refused(Exception):
    """A guard refused an operation; the message is for staff, as it stands."""


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
    """The sandbox, minus the two ways a template could switch escaping off, plus size guards."""

    # Intercepted operators are also never folded at compile time, so a constant
    # ``10 ** (10 ** 8)`` meets the guard instead of hanging the compiler.
    intercepted_binops = frozenset({"*", "**"})

    #: Most items a ``*`` may make (set per renderer to its output cap).
    max_items = MAX_PART_BYTES

    def call_binop(self, context, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            _check_repetition(left, right, limit=self.max_items)
            return operator.mul(left, right)
        if operator_name == "**":
            _check_power(left, right)
            return operator.pow(left, right)
        return super().call_binop(context, operator_name, left, right)

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


def _check_repetition(left: Any, right: Any, /, *, limit: int) -> None:
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, (str, list, tuple)) and isinstance(count, int):
            items = len(sequence) * count
            if items > limit:
                raise _Refused(
                    f"반복 결과가 너무 큽니다: {items:,}개는 한 메일 부분의 한도 "
                    f"{limit:,} 바이트를 넘습니다 (digest.max_part_bytes)"
                )


def _check_power(base: Any, exponent: Any, /) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        if abs(base) > 1 and (abs(base).bit_length() - 1) * exponent > MAX_POWER_BITS:
            raise _Refused(
                f"거듭제곱 결과가 너무 큽니다: {base} ** {exponent}{particle_for(str(exponent), '은')} "
                f"{MAX_POWER_BITS:,}비트를 넘습니다"
            )


class SandboxRenderer:
    """Renders the mail templates of one directory (plus overrides) in the sandbox, in this process.

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
        self.environment.max_items = max_bytes
        # |safe would let feed text through unescaped (compliance.md "Security notes").
        self.environment.filters.pop("safe", None)
        # A name followed by a Korean particle: {{ sender_name | josa("이") }} (issue 15).
        self.environment.filters["josa"] = with_particle
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
        except (TemplateError, MemoryError):
            raise  # a MemoryError is the render process's limit, reported by it
        except _Refused as exc:
            where, line = template_position(exc)
            raise TemplateError(str(exc), template=where or name, line=line) from None
        except TemplateSyntaxError as exc:
            raise TemplateError(
                _readable(exc.message or str(exc)), template=exc.name or name, line=exc.lineno
            ) from exc
        except TemplateNotFound as exc:
            where, line = template_position(exc)  # an {% include %} of a missing template
            raise TemplateError(
                f"template {exc.name!r} not found", template=where or name, line=line
            ) from exc
        except Exception as exc:  # noqa: BLE001 — any failure inside template code is the template's
            where, line = template_position(exc)
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


def template_position(exc: BaseException) -> tuple[str | None, int | None]:
    """The innermost template frame of a rendering error: (template name, line).

    Jinja rewrites the tracebacks of ``Exception``s so that template frames carry the
    template's filename (our loader makes that the template name) and its source
    line. A ``BaseException`` (the render process's time limit) passes unrewritten,
    through frames of compiled template code that map their lines themselves.
    """
    found: tuple[str | None, int | None] = (None, None)
    tb = exc.__traceback__
    while tb is not None:
        frame_globals = tb.tb_frame.f_globals
        template = frame_globals.get("__jinja_template__")
        if "__jinja_exception__" in frame_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        elif template is not None:
            found = (template.name, template.get_corresponding_lineno(tb.tb_lineno))
        tb = tb.tb_next
    return found


def _readable(message: str) -> str:
    message = message.removeprefix("UndefinedError: ").removeprefix("SecurityError: ")
    if message.endswith("is undefined"):
        return f"{message} (the template uses a name it does not receive)"
    if "unsafe" in message or "immutable" in message:
        return f"refused by the sandbox: {message}"
    return message

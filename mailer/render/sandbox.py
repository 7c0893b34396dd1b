"""Render staff-edited mail templates safely: Jinja2 sandbox, inlined CSS, wrapped plain text.

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

Personal-field marker contract (issue 4 item 5; the send step relies on it):

- An edition is rendered ONCE. Where a part needs a per-subscriber value, the
  template prints the context variable that holds the marker of a
  :class:`~mailer.models.PersonalField`: ``unsubscribe_url`` →
  ``%%MAILER_UNSUBSCRIBE_URL%%``, ``preferences_url`` → ``%%MAILER_PREFERENCES_URL%%``,
  ``subscriber_name`` → ``%%MAILER_NAME%%``, ``subscriber_email`` → ``%%MAILER_EMAIL%%``.
- Markers are plain ASCII without characters that HTML escaping or css-inline
  rewrite, so they reach the stored HTML and text byte for byte (tests check it).
- Markers may appear in the HTML part, the text part and (if staff put one there)
  the subject. The send step replaces every occurrence with the subscriber's value:
  URLs come from :class:`~mailer.models.Links` (URL-safe token, no escaping needed);
  a name or address substituted into the HTML part must be HTML-escaped
  (:func:`fill_personal_fields` does that); a missing name becomes "".
- Text from feeds can never forge a marker: :func:`defuse_markers` breaks any
  ``%%MAILER_`` sequence in untrusted strings with an invisible U+200B, so only the
  markers the template placed are substituted.
- In a quoted-printable body a soft line break may split a marker; substitute
  before encoding, or keep marker lines short (design §4 "Mail").
"""

from __future__ import annotations

import functools
import html as html_lib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError, nodes
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailer.errors import TemplateError
from mailer.models import PersonalField

#: Default cap on one rendered part (UTF-8 bytes); Settings.digest.max_part_bytes overrides it.
MAX_PART_BYTES = 2_000_000

#: Context variable → marker, as every mail template receives them.
MARKER_VARIABLES: dict[str, str] = {
    "unsubscribe_url": PersonalField.UNSUBSCRIBE_URL.marker,
    "preferences_url": PersonalField.PREFERENCES_URL.marker,
    "subscriber_name": PersonalField.NAME.marker,
    "subscriber_email": PersonalField.EMAIL.marker,
}

_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})
_MARKER_START = re.compile(r"%%(?=MAILER_)")
_WEEKDAYS_KO = "월화수목금토일"


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
    """Renders the mail templates of one directory (plus overrides) in the sandbox."""

    def __init__(
        self,
        directory: Path | None,
        /,
        *,
        overrides: Mapping[str, str] | None = None,
        max_bytes: int = MAX_PART_BYTES,
    ) -> None:
        self.max_bytes = max_bytes
        self.environment = _MailTemplateEnvironment(
            loader=_TemplateSource(directory, overrides),
            autoescape=_autoescape,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=True,
        )
        # |safe would let feed text through unescaped (compliance.md "Security notes").
        self.environment.filters.pop("safe", None)
        self._inliner = css_inline.CSSInliner(load_remote_stylesheets=False)

    def render(self, name: str, context: Mapping[str, Any], /) -> str:
        """Render one template with a plain-data context; raise TemplateError on any failure."""
        ensure_plain(dict(context))
        try:
            template = self.environment.get_template(name)
            return _join_capped(template.generate(context), limit=self.max_bytes, name=name)
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


def defuse_markers(text: str) -> str:
    """Make untrusted text unable to contain a personal-field marker (see module docstring)."""
    return _MARKER_START.sub("%\u200b%", text)


def fill_personal_fields(part: str, values: Mapping[PersonalField, str], /, *, html: bool) -> str:
    """Replace every marker in a rendered part with its value ("" when missing).

    ``html=True`` escapes the values, as they land in HTML text or attributes.
    """
    for field in PersonalField:
        value = values.get(field, "")
        part = part.replace(field.marker, html_lib.escape(value, quote=True) if html else value)
    return part


# --- dates for Korean readers -------------------------------------------------------


def korean_date(moment: datetime, /) -> str:
    """``2026년 12월 7일 (월)``."""
    return f"{moment.year}년 {moment.month}월 {moment.day}일 ({_WEEKDAYS_KO[moment.weekday()]})"


def korean_month_day(moment: datetime, /) -> str:
    """``12월 7일``."""
    return f"{moment.month}월 {moment.day}일"


def english_date(moment: datetime, /) -> str:
    """``Mon 7 Dec 2026``."""
    return f"{moment:%a} {moment.day} {moment:%b %Y}"


# --- plain text -----------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def char_width(char: str) -> int:
    """Columns a character takes in a monospaced mail reader: wide and fullwidth East Asian
    characters (Hangul, Hanja, Kana) take two, combining marks none, the rest one."""
    if unicodedata.combining(char) or char in "\u200b\u200c\u200d\ufeff":
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


@functools.lru_cache(maxsize=16384)
def display_width(text: str) -> int:
    """Columns ``text`` takes (see :func:`char_width`)."""
    if text.isascii():
        return len(text)
    return sum(map(char_width, text))


_HANGING = re.compile(r"^(\s*(?:[-*•·]\s+|\d{1,3}[.)]\s+)?)")


def wrap_line(line: str, *, width: int) -> list[str]:
    """Wrap one line at spaces to ``width`` columns, keeping a list item's hanging indent.

    A word wider than the line (a URL, a marker) stays whole on a line of its own so it
    still works when copied; a run of wide characters without spaces is broken between
    characters, which is how Korean and Chinese text may break.
    """
    if display_width(line) <= width:
        return [line]
    lead = _HANGING.match(line).group(1)  # type: ignore[union-attr]
    indent = " " * display_width(lead)
    words = line[len(lead) :].split()
    lines: list[str] = []
    current, current_width = lead, display_width(lead)
    start = True  # nothing but the lead on the current line yet
    for word in words:
        word_width = display_width(word)
        if not start and current_width + 1 + word_width <= width:
            current += " " + word
            current_width += 1 + word_width
            continue
        if start and current_width + word_width <= width:
            current += word
            current_width += word_width
            start = False
            continue
        if not start:
            lines.append(current)
            current, current_width = indent, len(indent)
        if current_width + word_width <= width or not _breakable(word):
            current += word
            current_width += word_width
            start = False
            continue
        # A long run of wide characters: break between characters.
        for char in word:
            if current_width + char_width(char) > width and current.strip():
                lines.append(current)
                current, current_width = indent, len(indent)
            current += char
            current_width += char_width(char)
        start = False
    lines.append(current)
    return lines


def _breakable(word: str) -> bool:
    return "://" not in word and "%%" not in word and display_width(word) > len(word)


def tidy_text(text: str, *, width: int) -> str:
    """Wrap every line, drop trailing spaces and keep at most one blank line in a row."""
    out: list[str] = []
    for raw in text.splitlines():
        for line in wrap_line(raw.rstrip(), width=width):
            line = line.rstrip()
            if not line and (not out or not out[-1]):
                continue
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


def plain_summary(summary: str, /, *, limit: int) -> str:
    """A feed summary as one short plain-text paragraph: tags dropped, entities decoded,
    whitespace collapsed, cut at a word boundary near ``limit`` characters with "…"."""
    # Block-level tags separate words; inline tags (<b>, <a>) sit inside a sentence.
    text = re.sub(r"<\s*(?:br|/?p|/?div|/?li|/?h[1-6]|/?tr|/?td)\b[^>]*>", " ", summary, flags=re.I)
    text = re.sub(r"<[^>]*>", "", text)
    text = " ".join(html_lib.unescape(text).split())
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:·-") + "…"

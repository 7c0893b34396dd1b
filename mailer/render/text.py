"""Text for mail readers: plain-text wrapping by display columns, feed summaries, dates in Korean.

Korean and other East Asian characters take two columns in a monospaced mail reader,
so the plain-text part is wrapped by columns, not characters. Dates are written the
way Korean readers expect them (``2026년 12월 7일 (월)``), with an English form beside.
"""

from __future__ import annotations

import functools
import html as html_lib
import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from mailer.shorten import shorten

_WEEKDAYS_KO = "월화수목금토일"

# --- dates ------------------------------------------------------------------------------


def korean_date(moment: datetime, /) -> str:
    """``2026년 12월 7일 (월)``."""
    return f"{moment.year}년 {moment.month}월 {moment.day}일 ({_WEEKDAYS_KO[moment.weekday()]})"


def korean_month_day(moment: datetime, /) -> str:
    """``12월 7일``."""
    return f"{moment.month}월 {moment.day}일"


def english_date(moment: datetime, /) -> str:
    """``Mon 7 Dec 2026``."""
    return f"{moment:%a} {moment.day} {moment:%b %Y}"


def local_time(moment: datetime | None, zone: ZoneInfo) -> str:
    """A time as people read it in mail: local zone, minutes, zone abbreviation."""
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


# --- plain text -------------------------------------------------------------------------


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
    return shorten(text, limit)

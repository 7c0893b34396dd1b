"""Does a feed's decoded text look garbled (mojibake)? Then staff get a warning with the feed.

A feed read in the wrong encoding rarely fails: most byte sequences are valid in some
code page, so the text comes out as confident nonsense. What gives it away:

- U+FFFD, the replacement character: bytes that were invalid in the encoding used;
- UTF-8 read as Latin-1/Windows-1252: runs like "Ã¼" or "â€œ" that are valid UTF-8
  again when encoded back (the check is that round trip, not a list of pairs);
- a double-byte encoding read as Latin-1: runs of accented letters and symbols such as
  "¸´ÐÇÒ½Ò©" that no Western language writes;
- Chinese (GB2312) read as Korean (CP949) — the bytes fit both — gives words that switch
  between Hangul and Hanja every character or two ("櫓벌浪폐베棍"); Korean news writes a
  Hanja abbreviation next to Hangul (美 FDA, 中企청) but not in alternation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mailer.feeds.encoding import Decision

#: How much of the garbled text the warning quotes.
SAMPLE_LENGTH = 24
#: Words with at least this many Hangul/Hanja switches are garbled...
SWITCHES_IN_A_WORD = 2
#: ...when the feed has this many of them (or one with SWITCHES_ALONE).
GARBLED_WORDS = 2
SWITCHES_ALONE = 4

# Characters Windows-1252 maps bytes 0x80-0xFF to (Latin-1's range plus its extras).
_CP1252_CHARS = (
    "\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
_CP1252_RUN = re.compile(f"[{_CP1252_CHARS}]{{2,}}")
# Latin-1 letters and symbols in a run of four or more, two of them symbols.
_LATIN1_RUN = re.compile(r"[\u00a1-\u00ff]{4,}")
_LATIN1_SYMBOLS = re.compile(r"[\u00a1-\u00bf\u00d7\u00f7]")
_WORD = re.compile(r"\S+")


def text_warnings(decision: Decision, texts: Iterable[str]) -> tuple[str, ...]:
    """The warnings for a feed read as ``decision`` decided, whose decoded text is ``texts``."""
    warnings = [decision.warning] if decision.warning else []
    # Replaced bytes are in the decision's warning already.
    sample = garbled_sample(texts, replaced=decision.replace)
    if sample:
        read_as = f" (read as {decision.codec})" if decision.codec else ""
        warnings.append(
            f"the text looks garbled{read_as}, e.g. {sample!r}: "
            "the feed may declare the wrong character set"
        )
    return tuple(warnings)


def garbled_sample(texts: Iterable[str], *, replaced: bool = False) -> str | None:
    """A piece of text that looks like mojibake, or None when all of it reads as text.

    ``replaced``: U+FFFD is known to stand for a few bad bytes and says nothing more.
    """
    garbled_words: list[str] = []
    for text in texts:
        if not text:
            continue
        position = -1 if replaced else text.find("\ufffd")
        if position >= 0:
            return _around(text, position)
        for match in _CP1252_RUN.finditer(text):
            if _utf8_read_as_cp1252(match.group()):
                return _around(text, match.start())
        for match in _LATIN1_RUN.finditer(text):
            if len(_LATIN1_SYMBOLS.findall(match.group())) >= 2:
                return _around(text, match.start())
        if _has_hangul_and_han(text):
            for word in _WORD.findall(text):
                switches = _script_switches(word)
                if switches >= SWITCHES_ALONE:
                    return _shorten(word)
                if switches >= SWITCHES_IN_A_WORD:
                    garbled_words.append(word)
                    if len(garbled_words) >= GARBLED_WORDS:
                        return _shorten(" ".join(garbled_words))
    return None


def _utf8_read_as_cp1252(run: str) -> bool:
    """True when ``run`` is UTF-8 bytes that were decoded as Windows-1252 or Latin-1."""
    try:
        data = run.encode("cp1252")
    except UnicodeEncodeError:
        try:
            data = run.encode("latin-1")
        except UnicodeEncodeError:
            return False
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return len(decoded) < len(run)


def _is_hangul(char: str) -> bool:
    return "\uac00" <= char <= "\ud7a3"


def _is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


def _has_hangul_and_han(text: str) -> bool:
    return any(_is_hangul(char) for char in text) and any(_is_han(char) for char in text)


def _script_switches(word: str) -> int:
    """How often a word changes between Hangul and Hanja (other characters are skipped)."""
    switches = 0
    last = None
    for char in word:
        script = "hangul" if _is_hangul(char) else "han" if _is_han(char) else None
        if script is None:
            continue
        if last is not None and script != last:
            switches += 1
        last = script
    return switches


def _around(text: str, position: int) -> str:
    start = max(0, position - SAMPLE_LENGTH // 3)
    return _shorten(text[start:])


def _shorten(text: str) -> str:
    return text if len(text) <= SAMPLE_LENGTH else text[:SAMPLE_LENGTH] + "…"

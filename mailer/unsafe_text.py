"""Characters text from outside must not carry: controls, bidi overrides, zero-width characters.

Feeds and forms are written by strangers (design §4 "Security rules"). A C0/C1 control
such as ESC rewrites a staff terminal (``\\x1b]0;…\\x07`` sets its title, ``\\x1b[31m``
recolours it) and CR/LF forges mail headers; a bidi control (U+202A–U+202E,
U+2066–U+2069, U+200E/U+200F, U+061C) makes "moc.elpmaxe" read as "example.com"; a
zero-width character (U+200B–U+200D, U+2060, U+FEFF) hides inside a name or defeats
the keyword filter and de-duplication. One rule decides for every path, so the poll
step removes exactly what a signup form refuses and what the CLI escapes:

- every control character (Unicode category Cc) except the ones a field allows
  (newline and tab in multi-line text), and the line and paragraph separators
  U+2028/U+2029, which some mail clients treat as line ends;
- every format character (category Cf): the bidi and zero-width characters above,
  and with them the soft hyphen, the invisible operators U+2061–U+2064, the deprecated
  format characters U+206A–U+206F and the tag characters U+E0000–U+E007F (invisible
  "ASCII smuggling"). None of them is needed in Korean or English headlines or names;
- the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0, which render as nothing and
  are the usual way to make an "invisible" Korean name;
- lone surrogates, which cannot be stored as UTF-8.

One exception keeps emoji whole: a ZERO WIDTH JOINER (U+200D) between two emoji
(a symbol of category So, optionally followed by U+FE0F or a skin-tone modifier) stays,
because it is what makes 👩‍💻 one picture instead of two. A joiner anywhere else — inside
a word, at either end, doubled — is unsafe like the other zero-width characters.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

ZWJ = "\u200d"
#: Characters that render as nothing although they are letters (category Lo).
HANGUL_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
#: May sit between an emoji and the joiner that follows it.
_EMOJI_TAIL = frozenset(["\ufe0f", *map(chr, range(0x1F3FB, 0x1F400))])
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _is_emoji(char: str) -> bool:
    return unicodedata.category(char) == "So"


def _joins_emoji(text: str, index: int) -> bool:
    """True when the joiner at ``index`` sits between two emoji (👩‍💻, 🏳️‍🌈)."""
    before = index - 1
    while before >= 0 and text[before] in _EMOJI_TAIL:
        before -= 1
    after = index + 1
    return before >= 0 and after < len(text) and _is_emoji(text[before]) and _is_emoji(text[after])


def _unsafe_at(text: str, index: int, allow: str) -> bool:
    char = text[index]
    if char in allow:
        return False
    if char in HANGUL_FILLERS:
        return True
    if unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return False
    return not (char == ZWJ and _joins_emoji(text, index))


def _quick_safe(text: str) -> bool:
    # Most feed text and every ASCII name is printable: skip the per-character walk.
    return text.isascii() and text.isprintable()


def find_unsafe(text: str, /, *, allow: str = "") -> str | None:
    """The first character of ``text`` that outside text must not carry, or None.

    ``allow`` names control characters a field may keep (``"\\n\\t"`` for multi-line text).
    """
    if _quick_safe(text):
        return None
    for index, char in enumerate(text):
        if _unsafe_at(text, index, allow):
            return char
    return None


def unsafe_problem(text: str, /, *, allow: str = "") -> str | None:
    """Words for an error about ``text``'s first unsafe character, or None when it has none."""
    char = find_unsafe(text, allow=allow)
    if char is None:
        return None
    return f"contains a control or invisible character (U+{ord(char):04X})"


def strip_unsafe(text: str, /, *, allow: str = "") -> str:
    """``text`` without the characters it must not carry.

    A control that separates like a space (vertical tab, form feed, U+0085, U+2028 …)
    becomes a space, so that words it divided stay apart; everything else is removed.
    """
    if _quick_safe(text):
        return text
    kept = []
    for index, char in enumerate(text):
        if not _unsafe_at(text, index, allow):
            kept.append(char)
        elif char.isspace():
            kept.append(" ")
    return "".join(kept)


def escape_unsafe(text: str, /, *, allow: str = "", json: bool = False) -> str:
    """``text`` with each unsafe character written as a visible escape (``\\x1b``, ``\\u202e``).

    For terminals: what staff see is what was stored, and nothing in it can move the
    cursor, recolour, retitle or reorder the screen. A backslash itself is left alone.
    ``json=True`` writes JSON's escapes (``\\u001b``, surrogate pairs above U+FFFF)
    instead, for text already serialised as JSON: its strings then read back unchanged.
    """
    if _quick_safe(text):
        return text
    escape = _json_escape if json else _escape
    return "".join(
        escape(char) if _unsafe_at(text, index, allow) else char for index, char in enumerate(text)
    )


def quote_unsafe(url: str, /) -> str:
    """A link with its unsafe characters percent-encoded, as a browser would request it.

    Removing them would change which page the link opens; encoding keeps the target
    and leaves nothing invisible in the text.
    """
    if _quick_safe(url):
        return url
    return "".join(
        quote(char, safe="", errors="replace") if _unsafe_at(url, index, "") else char
        for index, char in enumerate(url)
    )


def _json_escape(char: str) -> str:
    point = ord(char)
    if point < 0x10000:
        return f"\\u{point:04x}"
    point -= 0x10000
    return f"\\u{0xD800 + (point >> 10):04x}\\u{0xDC00 + (point & 0x3FF):04x}"


def _escape(char: str) -> str:
    point = ord(char)
    if point < 0x100:
        return f"\\x{point:02x}"
    if point < 0x10000:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"

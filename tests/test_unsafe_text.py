"""The one rule for characters outside text must not carry (issue 11), on the strings attackers use."""

from __future__ import annotations

import json

import pytest

from mailer.cli.output import json_text, shown
from mailer.unsafe_text import escape_unsafe, find_unsafe, quote_unsafe, strip_unsafe

UNSAFE = [
    "\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b", "\r", "\n", "\t",
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
    "\u200e", "\u200f", "\u061c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",
    "\u2028", "\u2029", "\u00ad", "\U000e0041", "\u3164", "\u115f", "\ud800",
]  # fmt: skip


@pytest.mark.parametrize("char", UNSAFE)
def test_each_control_bidi_and_zero_width_character_is_found_and_removed(char):
    text = f"바이오{char}뉴스"
    assert find_unsafe(text) == char
    assert strip_unsafe(text) in ("바이오뉴스", "바이오 뉴스")
    assert find_unsafe(escape_unsafe(text)) is None


def test_newline_and_tab_survive_where_a_field_allows_them():
    assert strip_unsafe("첫 줄\n\t둘째 줄\x1b", allow="\n\t") == "첫 줄\n\t둘째 줄"
    assert strip_unsafe("a\x0bb\u2028c") == "a b c"  # separators stay separators


@pytest.mark.parametrize(
    "emoji",
    ["👩\u200d💻", "👨\u200d👩\u200d👧", "🏳\ufe0f\u200d🌈", "👩🏽\u200d🔬", "❤\ufe0f\u200d🔥"],
)
def test_a_joiner_inside_an_emoji_sequence_is_kept(emoji):
    assert find_unsafe(f"연구팀 {emoji} 개발") is None
    assert strip_unsafe(emoji) == emoji


@pytest.mark.parametrize(
    "text", ["\u200d👩", "👩\u200d", "김\u200d철수", "👩\u200d\u200d💻", "a\u200d💻"]
)
def test_a_joiner_anywhere_else_is_unsafe(text):
    assert find_unsafe(text) == "\u200d"


def test_escapes_for_terminals_and_json_read_back_as_stored():
    stored = "\x1b]0;pwned\x07[red]가짜[/red]\u202e\U000e0041\x9b"
    assert shown(stored) == "\\x1b]0;pwned\\x07[red]가짜[/red]\\u202e\\U000e0041\\x9b"
    printed = json_text({"title": stored})
    assert find_unsafe(printed, allow="\n") is None
    assert json.loads(printed) == {"title": stored}


def test_links_keep_their_target():
    assert (
        quote_unsafe("https://a.example/x\u200by?q=\x1b") == "https://a.example/x%E2%80%8By?q=%1B"
    )
    assert quote_unsafe("https://a.example/뉴스") == "https://a.example/뉴스"

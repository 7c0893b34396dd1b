"""What a reader would see go wrong on a page, measured in Chromium: sideways scrolling, missing glyphs, split words.

- **Sideways scrolling**: the document is wider than the window.
- **Missing glyphs (tofu)**: Chromium draws a character no installed font has as an empty
  box, and reports the font it *tried* (``CSS.getPlatformFontsForNode`` counts the box as
  a glyph of that font), so the report alone cannot tell. For each element with text we
  therefore ask Chromium which fonts rendered its text and check with fontconfig (which
  Chromium uses on Linux, with the same environment) that every character is in the
  character map of one of them. A Korean page on a machine without a Korean font fails.
- **Split words**: a Korean or Latin word broken across two lines ("받았습니/다",
  "messag/e"): each word's text range must lie on one line. Tokens with "/", "@" or "="
  (links, addresses, tokens) may wrap anywhere and are not words.
"""

from __future__ import annotations

import bisect
import functools
import re
import subprocess
import unicodedata
from dataclasses import dataclass

from playwright.sync_api import Page

#: Marks each element that holds text, so CDP can find it again (removed afterwards).
_PROBE = "data-glyph-probe"

_TAG_TEXT_ELEMENTS = f"""() => {{
  const texts = [];
  const ids = new Map();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {{
    const node = walker.currentNode;
    const text = node.data.replace(/\\s+/g, "");
    const element = node.parentElement;
    if (!text || !element || element.getClientRects().length === 0) continue;
    // A textarea draws its text in the browser's own shadow tree (no fonts to ask
    // about), like an input's value, which is no text node at all.
    if (element.tagName === "TEXTAREA") continue;
    if (getComputedStyle(element).visibility !== "visible") continue;
    // The inside of a closed <details> keeps its boxes but draws nothing (no font to check).
    if (!element.checkVisibility()) continue;
    let id = ids.get(element);
    if (id === undefined) {{
      id = texts.length;
      ids.set(element, id);
      element.setAttribute("{_PROBE}", String(id));
      texts.push("");
    }}
    texts[id] += text;
  }}
  return texts;
}}"""

_UNTAG = (
    f"""() => document.querySelectorAll("[{_PROBE}]").forEach(e => e.removeAttribute("{_PROBE}"))"""
)

_SPLIT_WORDS = r"""() => {
  const split = [];
  const range = document.createRange();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const element = node.parentElement;
    if (!element || element.closest("pre, textarea, .trap")) continue;
    for (const token of node.data.matchAll(/\S+/g)) {
      if (/[\/@=]/.test(token[0])) continue;
      for (const word of token[0].matchAll(/[\p{L}\p{N}]+/gu)) {
        if (word[0].length < 2) continue;
        const start = token.index + word.index;
        range.setStart(node, start);
        range.setEnd(node, start + word[0].length);
        const lines = new Set(
          Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.bottom))
        );
        if (lines.size > 1) split.push(word[0]);
      }
    }
  }
  return split;
}"""


@dataclass(frozen=True)
class MissingGlyph:
    """A character drawn as a box: no font Chromium used for its element has it."""

    char: str
    text: str  # the element's text, shortened
    fonts: tuple[str, ...]  # what Chromium says it rendered the element with

    def __str__(self) -> str:
        name = unicodedata.name(self.char, f"U+{ord(self.char):04X}")
        return f"{self.char!r} ({name}) in {self.text!r}: fonts {', '.join(self.fonts) or 'none'}"


def sideways_scroll(page: Page) -> int:
    """How many CSS pixels the page is wider than its window (0 when it fits)."""
    return max(
        0,
        page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        ),
    )


def split_words(page: Page) -> list[str]:
    """Words that a line break cuts in two."""
    return page.evaluate(_SPLIT_WORDS)


def missing_glyphs(page: Page) -> tuple[list[MissingGlyph], int]:
    """Characters no rendering font has, and how many Hangul characters were checked."""
    texts = page.evaluate(_TAG_TEXT_ELEMENTS)
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        missing: list[MissingGlyph] = []
        hangul = 0
        for index, text in enumerate(texts):
            node = cdp.send(
                "DOM.querySelector", {"nodeId": root, "selector": f'[{_PROBE}="{index}"]'}
            )
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
            names = tuple(font["postScriptName"] or font["familyName"] for font in fonts)
            for char in dict.fromkeys(text):
                if not _drawn(char):
                    continue
                hangul += "가" <= char <= "힣"
                if not any(_covers(name, char) for name in names):
                    missing.append(MissingGlyph(char, text[:60], names))
    finally:
        cdp.detach()
        page.evaluate(_UNTAG)
    return missing, hangul


def _drawn(char: str) -> bool:
    """Whether a character needs a glyph (not a format character or a variation selector)."""
    return unicodedata.category(char) not in ("Cc", "Cf", "Zs", "Mn") and not (
        0xFE00 <= ord(char) <= 0xFE0F
    )


def _covers(font: str, char: str) -> bool:
    ranges = _charsets().get(font)
    if not ranges:
        return False
    point = ord(char)
    at = bisect.bisect_right(ranges, (point, float("inf"))) - 1
    return at >= 0 and ranges[at][0] <= point <= ranges[at][1]


@functools.cache
def _charsets() -> dict[str, list[tuple[int, int]]]:
    """Every installed font's character map, by PostScript name and by family, from fontconfig."""
    listing = subprocess.run(
        ["fc-list", "--format", "%{postscriptname}\t%{family}\t%{charset}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    charsets: dict[str, list[tuple[int, int]]] = {}
    for line in listing.splitlines():
        postscript, families, charset = (line.split("\t") + ["", ""])[:3]
        ranges = []
        for part in charset.split():
            low, _, high = part.partition("-")
            ranges.append((int(low, 16), int(high or low, 16)))
        for name in [postscript, *re.split(r",", families)]:
            if name:
                charsets.setdefault(name, []).extend(ranges)
    return {name: _merged(ranges) for name, ranges in charsets.items()}


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged

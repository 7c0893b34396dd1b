"""Cut text at a word boundary: the one rule for short summaries, in feeds and in the digest."""

from __future__ import annotations


def shorten(text: str, limit: int, /) -> str:
    """``text`` cut at a word boundary near ``limit`` characters, with "…"; unchanged if short.

    The cut goes back to the last space only when that keeps most of the text (60 %),
    since Korean sentences often run long without one; trailing punctuation goes.
    """
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:·-") + "…"

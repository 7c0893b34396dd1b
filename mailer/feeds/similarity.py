"""Are two stories the same news? A measured similarity of their words, split by their facts.

Korean outlets reprint a story with a desk tag, a different verb or the subject moved
("셀트리온, 美 FDA서 '짐펜트라' 품목허가 획득" / "[속보] 셀트리온 짐펜트라, 미국 FDA
허가"), so equal headlines are too strict. Two stories are the same news when

1. no fact of one contradicts the other (:func:`conflict`): other numbers of the same
   kind (3분기 / 2분기, phase 2 / 3, $4.5B / $5B), other places or regulators (FDA /
   EMA, 오송 / 송도), events that do not overlap (허가 / 출시), other diseases (sleep
   apnea / weight loss), a setback on one side only (허가 / 허가 불발), or each
   naming something the other never mentions ('스테키마' / '옴리클로', 큐로셀 /
   에이인비); and
2. their :func:`score` reaches :data:`THRESHOLD`.

The score compares character bigrams — Korean has no reliable word boundaries and
particles attach to nouns, so whole words would miss "허가를"/"허가" — of the
headlines with decorations removed (:func:`mailer.feeds.dedupe.strip_decorations`),
spacing and punctuation ignored: the larger of the headlines' Jaccard similarity and
the mean of that and the summaries' (a rewritten headline over the same wire copy
still matches), plus :data:`AGREEMENT_BONUS` for each fact both state (the same
company, drug, amount, regulator). Plain Python sets compute it: rapidfuzz's
``fuzz.ratio`` and datasketch's MinHash were measured on the same pairs with the same
rules and gave no better decisions (bench/README.md, "Near-duplicates"), and the
similarity is not where the time goes — the facts are.
The threshold and the rules were chosen on the development pairs of
``tests/data/near_duplicates.jsonl``; bench/README.md reports precision and recall.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from mailer.feeds.dedupe import ABBREVIATIONS, _fold, strip_decorations
from mailer.feeds.story_facts import StoryFacts, codes, quantities, story_facts

#: A pair at or above this score (and without a conflict) is one piece of news.
THRESHOLD = 0.30

#: What each fact both stories state adds to the score.
AGREEMENT_BONUS = 0.04

#: How much of a summary is compared: the lead, where reprints agree; the rest of a
#: long article adds outlet boilerplate.
SUMMARY_CHARS = 240

_SPELLED_OUT = str.maketrans({short: f" {long} " for short, long in ABBREVIATIONS.items()})
_TAGS = re.compile(
    r"^\s*(?:\[[^\]]{1,14}\]|【[^】]{1,14}】|〈[^〉]{1,14}〉|<[^>]{1,14}>|"
    r"(?:exclusive|breaking|update(?:\s*\d+)?|analysis)\s*[:\-–]\s*)",
    re.I,
)
_NOT_WORD = re.compile(r"[\W_]+")
_TAG = re.compile(r"<[^>]*>")
_LATIN_TOKEN = re.compile(r"[a-z0-9][a-z0-9&+.\-'’]*")


@dataclass(frozen=True, slots=True)
class StoryPrint:
    """What the comparison needs of one story, computed once per story."""

    headline: str  #: folded, decorations removed, abbreviations spelled out
    title_grams: frozenset[str]
    summary_grams: frozenset[str]
    text: str  #: headline + summary, folded: where another story's names are looked up
    compact: str  #: ``text`` without spaces and punctuation (Korean spacing varies)
    words: frozenset[str]  #: the Latin words of ``text``, where Latin names are looked up
    facts: StoryFacts  #: what the headline states
    codes: frozenset[str]  #: product codes of the summary, names too (mRNA-1010 / mRNA-1083)
    quantities: frozenset[tuple[str, float]]  #: every number of headline and summary


def story_print(title: str, summary: str = "", *, outlets: Iterable[str] = ()) -> StoryPrint:
    """The comparable form of a story (``summary`` may be sanitised HTML or plain text)."""
    cased = _undecorated(title, outlets)
    headline = _fold(cased)
    plain = " ".join(_TAG.sub(" ", unicodedata.normalize("NFKC", summary)).split())[:SUMMARY_CHARS]
    text = f"{headline} {_fold(plain)}"
    facts = story_facts(cased)
    return StoryPrint(
        headline=headline,
        title_grams=_bigrams(headline),
        summary_grams=_bigrams(_fold(plain)),
        text=text,
        compact=_NOT_WORD.sub("", text),
        words=_latin_words(text),
        facts=facts,
        codes=codes(plain),
        quantities=facts.quantities | quantities(plain),
    )


def _latin_words(text: str) -> frozenset[str]:
    """Latin words with and without a possessive, and their hyphenated parts ("ai-designed")."""
    words: set[str] = set()
    for token in _LATIN_TOKEN.findall(text):
        token = token.rstrip(".-'’").removesuffix("'s").removesuffix("’s")
        words.add(token)
        words.update(part for part in re.split(r"[-./]", token) if part)
    return frozenset(words)


def _undecorated(title: str, outlets: Iterable[str]) -> str:
    """The headline without desk tags and outlet names, abbreviations spelled out, case kept.

    ``strip_decorations`` only trims the ends of the folded headline, so the same span
    of the unfolded one is the headline with its case (English names are capitalised).
    """
    nfkc = " ".join(unicodedata.normalize("NFKC", title).split())
    stripped = strip_decorations(title, outlets=outlets)
    start = nfkc.casefold().find(stripped)
    if stripped and start >= 0 and len(nfkc.casefold()) == len(nfkc):
        nfkc = nfkc[start : start + len(stripped)]
    else:
        nfkc = stripped
    while (match := _TAGS.match(nfkc)) is not None and match.end() < len(nfkc):
        nfkc = nfkc[match.end() :]
    return " ".join(nfkc.translate(_SPELLED_OUT).split())


def _bigrams(text: str) -> frozenset[str]:
    compact = _NOT_WORD.sub("", text)
    if len(compact) < 2:
        return frozenset((compact,)) if compact else frozenset()
    return frozenset(compact[i : i + 2] for i in range(len(compact) - 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def score(a: StoryPrint, b: StoryPrint, *, title: float | None = None) -> float:
    """The words' similarity plus :data:`AGREEMENT_BONUS` per fact both state (at most 5).

    ``title`` is the headlines' Jaccard when the caller has it already.
    """
    return text_similarity(a, b, title=title) + AGREEMENT_BONUS * min(5, agreement(a, b))


def text_similarity(a: StoryPrint, b: StoryPrint, *, title: float | None = None) -> float:
    """In [0, 1]: the headlines' bigram Jaccard, or its mean with the summaries' if larger."""
    if title is None:
        title = jaccard(a.title_grams, b.title_grams)
    if a.summary_grams and b.summary_grams:
        return max(title, (title + jaccard(a.summary_grams, b.summary_grams)) / 2)
    return title


def agreement(a: StoryPrint, b: StoryPrint) -> int:
    """How many facts of one headline the other story states: names, numbers, places.

    A reworded reprint shares few words but the same company, drug, amount and
    regulator ("Xaira raises $1 billion" / "Xaira Therapeutics launches with $1B").
    """
    names = {name for name in a.facts.names if _mentions(b, name)}
    names |= {name for name in b.facts.names if _mentions(a, name)}
    numbers = {
        (kind, value)
        for kind, value in a.facts.quantities
        if any(_close(kind, value, y) for k, y in b.quantities if k == kind)
    }
    return len(names) + len(numbers) + len(a.facts.regions & b.facts.regions)


def same_news(a: StoryPrint, b: StoryPrint, *, threshold: float = THRESHOLD) -> bool:
    return score(a, b) >= threshold and conflict(a, b) is None


def similar_enough(
    a: StoryPrint, b: StoryPrint, *, title: float, threshold: float = THRESHOLD
) -> float | None:
    """The pair's text similarity if its :func:`score` reaches ``threshold``, else None.

    The same decision as ``score(a, b) >= threshold``, faster: the facts are counted
    only when the words alone neither reach the threshold nor miss it by more than
    the largest bonus. ``title`` is the headlines' Jaccard, which the caller has.
    """
    words = text_similarity(a, b, title=title)
    missing = threshold - words
    if missing <= 0:
        return words
    if missing > AGREEMENT_BONUS * 5 or AGREEMENT_BONUS * min(5, agreement(a, b)) < missing:
        return None
    return words


def conflict(a: StoryPrint, b: StoryPrint) -> str | None:
    """Why two stories cannot be one piece of news, whatever their score; None if nothing says so."""
    fa, fb = a.facts, b.facts
    kinds = {kind for kind, _ in fa.quantities} & {kind for kind, _ in fb.quantities}
    for kind in sorted(kinds):
        # A headline figure the other story states anywhere agrees ("3386억" of a
        # profit headline is in the summary of the revenue headline).
        if not _stated(fa.quantities, b.quantities, kind) and not _stated(
            fb.quantities, a.quantities, kind
        ):
            return f"numbers: {kind}"
    if fa.regions and fb.regions and not fa.regions & fb.regions:
        return "places"
    if fa.events and fb.events and not fa.events & fb.events:
        return "events"
    if fa.conditions and fb.conditions and fa.conditions != fb.conditions:
        return "conditions"
    if fa.setback != fb.setback:
        return "setback"
    if _missing_name(fa.names | a.codes, b) and _missing_name(fb.names | b.codes, a):
        return "names"
    return None


def _stated(headline: frozenset, other: frozenset, kind: str) -> bool:
    ours = [value for k, value in headline if k == kind]
    theirs = [value for k, value in other if k == kind]
    return any(_close(kind, x, y) for x in ours for y in theirs)


def _close(kind: str, x: float, y: float) -> bool:
    """Equal; money may be rounded differently (1조7028억 / 1.7조)."""
    if kind in ("krw", "usd"):
        return abs(x - y) <= 0.03 * max(abs(x), abs(y))
    return x == y


def _missing_name(names: frozenset[str], other: StoryPrint) -> bool:
    """Whether ``other`` never mentions one of ``names``."""
    return any(not _mentions(other, name) for name in names)


def _mentions(story: StoryPrint, name: str) -> bool:
    """Latin names as words ("ai" is not in "said"), Korean ones anywhere, spacing ignored."""
    if name.isascii() and " " not in name:
        return name in story.words
    return _NOT_WORD.sub("", name) in story.compact

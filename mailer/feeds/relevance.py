"""Relevance: score a story against Korean and English bio-industry keywords and exclusions.

A story's score is the sum, over the distinct keywords found in it, of the keyword's
weight — doubled when the keyword is in the title. The story is relevant when the
score reaches ``min_score`` and no exclusion keyword occurs in it. With the default
``min_score`` of 3, an industry keyword (weight 2) in the title is enough (2 × 2),
one in the summary alone (2) is not, the most specific terms ("신약", "임상시험",
"CRISPR": weight 3) count anywhere, and an ambiguous word such as "진단" (weight 1)
needs company.

Keyword syntax (staff type these into ``feeds add --keywords`` and the settings):

- Korean (or any non-Latin) text matches as a substring, because particles attach
  to the word ("신약을", "바이오가"); a space in the keyword matches any spacing.
- Latin words match at a word start and end, allowing a plural "s"/"es":
  "FDA" matches "FDA's" and "FDA-approved" but not "FDAX".
- A trailing ``*`` makes a Latin keyword a prefix: "vaccin*" matches "vaccines" and
  "vaccination".
- Matching ignores case and Unicode width (NFKC), so "ＦＤＡ" is "fda".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

#: Weight of a keyword staff added (per feed or globally): one hit anywhere is enough.
STAFF_WEIGHT = 3

# (keyword, weight). 2 = specific to the industry; 1 = ambiguous on its own.
_KOREAN = [
    # Industry and companies
    ("바이오", 2),
    ("바이오헬스", 2),
    ("바이오산업", 2),
    ("바이오의약품", 3),
    ("바이오시밀러", 3),
    ("바이오벤처", 2),
    ("바이오텍", 2),
    ("바이오기업", 2),
    ("바이오클러스터", 2),
    ("바이오파운드리", 2),
    ("k-바이오", 2),
    ("제약바이오", 3),
    ("제약사", 2),
    ("제약업계", 2),
    ("제약회사", 2),
    ("제약기업", 2),
    ("제약", 1),
    ("생명공학", 2),
    ("생명과학", 2),
    ("위탁생산", 2),
    ("위탁개발", 2),
    # Medicines and development
    ("신약", 3),
    ("신약개발", 3),
    ("개량신약", 3),
    ("의약품", 2),
    ("원료의약품", 3),
    ("전문의약품", 2),
    ("희귀의약품", 3),
    ("제네릭", 2),
    ("복제약", 2),
    ("임상", 2),
    ("임상시험", 3),
    ("품목허가", 2),
    ("허가신청", 1),
    ("기술이전", 2),
    ("기술수출", 2),
    ("파이프라인", 1),
    ("치료제", 2),
    ("항암제", 2),
    ("면역항암", 3),
    ("표적항암", 3),
    ("백신", 2),
    ("항체", 2),
    ("이중항체", 3),
    ("항체약물접합체", 3),
    ("단클론항체", 3),
    ("세포치료", 3),
    ("세포치료제", 3),
    ("유전자치료", 3),
    ("유전자치료제", 3),
    ("유전자가위", 3),
    ("줄기세포", 2),
    ("재생의료", 3),
    ("첨단재생", 3),
    ("엑소좀", 3),
    ("마이크로바이옴", 3),
    ("오가노이드", 3),
    ("유전체", 2),
    ("펩타이드", 2),
    ("합성생물학", 3),
    ("비만치료제", 3),
    ("희귀질환", 2),
    # Devices, diagnostics, digital health
    ("의료기기", 2),
    ("체외진단", 3),
    ("진단키트", 2),
    ("분자진단", 3),
    ("진단", 1),
    ("디지털헬스", 2),
    ("디지털치료제", 3),
    ("헬스케어", 1),
    ("의료", 1),
    # Regulators and policy
    ("식약처", 2),
    ("식품의약품안전처", 2),
    ("보건산업진흥원", 2),
    ("약가", 1),
    ("건강보험", 1),
    # The agency's own region (the digest is for a Siheung audience)
    ("시흥", 1),
    ("배곧", 1),
]

_ENGLISH = [
    ("biotech*", 2),
    ("biopharma*", 2),
    ("pharma*", 2),
    ("drugmaker*", 2),
    ("life sciences", 2),
    ("therapeutics", 2),
    ("FDA", 2),
    ("EMA", 1),
    ("MFDS", 2),
    ("clinical trial*", 3),
    ("clinical", 1),
    ("phase 1", 2),
    ("phase 2", 2),
    ("phase 3", 2),
    ("phase I", 2),
    ("phase II", 2),
    ("phase III", 2),
    ("vaccin*", 2),
    ("antibod*", 2),
    ("bispecific*", 3),
    ("antibody-drug conjugate*", 3),
    ("ADC", 2),
    ("monoclonal", 2),
    ("gene therap*", 3),
    ("gene editing", 3),
    ("cell therap*", 3),
    ("CAR-T", 3),
    ("CRISPR", 3),
    ("mRNA", 3),
    ("RNAi", 3),
    ("siRNA", 3),
    ("oligonucleotide*", 3),
    ("biosimilar*", 3),
    ("generic drug*", 2),
    ("oncology", 2),
    ("immunotherap*", 3),
    ("immuno-oncology", 3),
    ("CDMO", 3),
    ("CMO", 1),
    ("CRO", 1),
    ("IND", 1),
    ("BLA", 2),
    ("NDA", 1),
    ("diagnostic*", 2),
    ("medtech", 2),
    ("medical device*", 2),
    ("microbiome", 3),
    ("organoid*", 3),
    ("regenerative medicine", 3),
    ("stem cell*", 2),
    ("GLP-1", 3),
    ("obesity drug*", 3),
    ("precision medicine", 2),
    ("genomic*", 2),
    ("synthetic biology", 3),
    ("drug discovery", 3),
    ("drug development", 3),
    ("biologic*", 2),
    ("drug*", 1),
    ("therap*", 1),
    ("healthcare", 1),
]

#: The built-in bio-industry keyword set: (keyword, weight).
DEFAULT_KEYWORDS: tuple[tuple[str, int], ...] = tuple(_KOREAN + _ENGLISH)


@dataclass(frozen=True, slots=True)
class RelevanceRules:
    """Everything that decides relevance for one feed's stories (hashable, picklable)."""

    include: tuple[tuple[str, int], ...]
    exclude: tuple[str, ...]
    min_score: float


@dataclass(frozen=True, slots=True)
class Relevance:
    score: float
    relevant: bool
    matched: tuple[str, ...]
    excluded_by: tuple[str, ...] = ()


def build_rules(
    *,
    use_defaults: bool,
    include: list[str] | tuple[str, ...] = (),
    exclude: list[str] | tuple[str, ...] = (),
    feed_include: list[str] | tuple[str, ...] = (),
    feed_exclude: list[str] | tuple[str, ...] = (),
    min_score: float,
) -> RelevanceRules:
    """Combine the built-in set with global and per-feed lists into one rule set."""
    weights: dict[str, int] = {}
    if use_defaults:
        for word, weight in DEFAULT_KEYWORDS:
            weights[word] = weight
    for word in [*include, *feed_include]:
        word = clean_keyword(word)
        if word:
            weights[word] = max(weights.get(word, 0), STAFF_WEIGHT)
    excluded = []
    for word in [*exclude, *feed_exclude]:
        word = clean_keyword(word)
        if word and word not in excluded:
            excluded.append(word)
    return RelevanceRules(
        include=tuple(sorted(weights.items())), exclude=tuple(excluded), min_score=min_score
    )


def clean_keyword(word: str) -> str:
    """A keyword as staff typed it, trimmed; empty when there is nothing to match."""
    return " ".join(str(word).split()).strip(",;")


def parse_keyword_list(values: list[str] | tuple[str, ...] | None) -> list[str]:
    """Split comma-separated input ("항암, ADC") into keywords, dropping blanks and repeats."""
    found: list[str] = []
    for value in values or ():
        for part in str(value).split(","):
            word = clean_keyword(part)
            if word and word not in found:
                found.append(word)
    return found


def normalise_text(text: str) -> str:
    """The form both keywords and stories are compared in: NFKC, case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


_SEPARATORS = re.compile(r"[\s\-_/·]+")


def _spaced(text: str) -> str:
    """Text with every run of spaces, hyphens and slashes as one space ("gene-therapy" → "gene therapy")."""
    return _SEPARATORS.sub(" ", normalise_text(text)).strip()


def _is_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


class _Keyword:
    """One keyword, prepared for substring search with the boundary rules of this module."""

    __slots__ = ("display", "needle", "latin", "prefix", "start_boundary", "end_boundary")

    def __init__(self, display: str) -> None:
        self.display = display
        word = _spaced(display)
        self.prefix = word.endswith("*")
        word = word.rstrip("*").strip()
        self.latin = any(_is_word_char(char) for char in word)
        # Korean is matched without spaces on both sides, so spacing never matters.
        self.needle = word if self.latin else word.replace(" ", "")
        self.start_boundary = self.latin and _is_word_char(word[:1])
        self.end_boundary = self.latin and not self.prefix and _is_word_char(word[-1:])

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the keyword occurs in ``text`` (already in the keyword's search form)."""
        found = []
        needle = self.needle
        position = text.find(needle)
        while position >= 0:
            end = position + len(needle)
            if self.start_boundary and position > 0 and _is_word_char(text[position - 1]):
                position = text.find(needle, position + 1)
                continue
            if self.end_boundary:
                # A plural "s" or "es" may follow; then the word must end.
                for suffix in ("es", "s", ""):
                    if text.startswith(suffix, end):
                        after = end + len(suffix)
                        if after >= len(text) or not _is_word_char(text[after]):
                            end = after
                            break
                else:
                    position = text.find(needle, position + 1)
                    continue
            found.append((position, end))
            position = text.find(needle, position + 1)
        return found


class Matcher:
    """Finds which of many keywords occur in a text, using plain substring search.

    Where two keywords overlap ("바이오" inside "바이오의약품"), the longer one wins,
    so a word is not counted twice. Substring search is what makes scoring ten
    thousand stories cheap; one big regular expression with boundary assertions
    was ~50 times slower.
    """

    def __init__(self, keywords: list[str] | tuple[str, ...]) -> None:
        prepared = [_Keyword(word) for word in keywords]
        self.keywords = [keyword for keyword in prepared if keyword.needle]
        # Longest first: the overlap rule keeps the first span accepted.
        self.keywords.sort(key=lambda keyword: -len(keyword.needle))
        # Keywords by first character: only those whose first character occurs in
        # a text can occur in it, which skips most of the list for any one story.
        self._starting: dict[str, list[int]] = {}
        for index, keyword in enumerate(self.keywords):
            self._starting.setdefault(keyword.needle[0], []).append(index)

    def find(self, text: str) -> set[str]:
        """The keywords (as given) that occur in ``text``."""
        return self.find_in(text, "")[0]

    def find_in(self, title: str, text: str) -> tuple[set[str], set[str]]:
        """The keywords in ``title``, and those found only in ``text``, in one pass."""
        if not self.keywords or not (title or text):
            return set(), set()
        # One haystack for both parts; "|" never occurs in a keyword, so no match spans
        # the seam, and a match's offset tells which part it is in.
        spaced_title, spaced_text = _spaced(title), _spaced(text)
        spaced = f"{spaced_title} | {spaced_text}"
        compact = spaced.replace(" ", "")
        seam = {True: len(spaced_title), False: len(spaced_title.replace(" ", ""))}
        candidates = sorted(
            index for char in self._starting.keys() & set(spaced) for index in self._starting[char]
        )
        taken: dict[bool, list[tuple[int, int]]] = {True: [], False: []}
        in_title: set[str] = set()
        in_text: set[str] = set()
        for index in candidates:
            keyword = self.keywords[index]
            haystack = spaced if keyword.latin else compact
            if keyword.needle not in haystack:
                continue
            accepted = taken[keyword.latin]
            for start, end in keyword.spans(haystack):
                if any(
                    start < other_end and other_start < end for other_start, other_end in accepted
                ):
                    continue
                accepted.append((start, end))
                if start < seam[keyword.latin]:
                    in_title.add(keyword.display)
                else:
                    in_text.add(keyword.display)
        return in_title, in_text - in_title


class CompiledRules:
    """RelevanceRules ready to score stories."""

    def __init__(self, rules: RelevanceRules) -> None:
        self.rules = rules
        self.weights = dict(rules.include)
        self.include = Matcher(list(self.weights))
        self.exclude = Matcher(list(rules.exclude))

    def score(self, title: str, text: str) -> Relevance:
        """Score a story from its plain-text title and plain-text summary."""
        in_title, in_text = self.include.find_in(title, text)
        score = float(
            sum(2 * self.weights[word] for word in in_title)
            + sum(self.weights[word] for word in in_text)
        )
        matched = tuple(
            sorted(in_title | in_text, key=lambda word: (-self.weights[word], word.casefold()))
        )
        excluded = tuple(sorted(set().union(*self.exclude.find_in(title, text))))
        relevant = score >= self.rules.min_score and not excluded
        return Relevance(score=score, relevant=relevant, matched=matched, excluded_by=excluded)


@lru_cache(maxsize=256)
def compile_rules(rules: RelevanceRules) -> CompiledRules:
    """Compile once per distinct rule set (each feed's lists make their own)."""
    return CompiledRules(rules)

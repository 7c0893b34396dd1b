"""Group the stories of an edition into the configured sections (title → keywords).

A story goes to the section whose keywords it matches best — a match in the title
counts twice, one in the summary or in the poll step's matched keywords once; a tie
goes to the section listed first. A story that matches no section goes to the
fallback section (기타), which comes last. Korean keywords match anywhere in a word
(particles attach to nouns: "임상을", "정부는"); ASCII keywords match whole words only,
so "EU" does not match "neutral", with an English ending allowed ("deal" matches
"deals", "approve" matches "approved"); a trailing ``*`` makes one a prefix
("acquir*" matches "acquire", "acquires", "acquiring").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from mailer.models import StoryView


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    stories: tuple[StoryView, ...]


def _matcher(keywords: Sequence[str]) -> re.Pattern[str] | None:
    """One pattern finding any of ``keywords``; longer keywords first (지원사업 before 지원)."""
    alternatives = []
    for keyword in sorted(
        {k.strip().casefold() for k in keywords if k.strip()}, key=len, reverse=True
    ):
        if not keyword.isascii():
            alternatives.append(re.escape(keyword))
        elif keyword.endswith("*") and len(keyword) > 1:
            alternatives.append(rf"(?<![0-9a-z]){re.escape(keyword[:-1])}[0-9a-z]*")
        else:
            alternatives.append(rf"(?<![0-9a-z]){re.escape(keyword)}(?:s|es|d|ed|ing)?(?![0-9a-z])")
    return re.compile("|".join(alternatives)) if alternatives else None


def _score(matcher: re.Pattern[str] | None, story: StoryView) -> int:
    """Two points per keyword found in the title, one per other keyword in the rest."""
    if matcher is None:
        return 0
    in_title = set(matcher.findall(story.title.casefold()))
    rest = " ".join([story.summary, *story.matched_keywords]).casefold()
    elsewhere = set(matcher.findall(rest)) - in_title
    return 2 * len(in_title) + len(elsewhere)


def group_into_sections(
    stories: Sequence[StoryView], /, *, sections: Mapping[str, Sequence[str]], fallback: str
) -> list[Section]:
    """Sections in configured order (fallback last), empty ones left out, stories in rank order.

    Each returned story carries its section title in ``StoryView.section``.
    """
    compiled = {title: _matcher(keywords) for title, keywords in sections.items()}
    grouped: dict[str, list[StoryView]] = {title: [] for title in [*compiled, fallback]}
    for story in stories:
        best, best_score = fallback, 0
        for title, matcher in compiled.items():
            score = _score(matcher, story)
            if score > best_score:
                best, best_score = title, score
        grouped[best].append(replace(story, section=best))
    return [Section(title, tuple(items)) for title, items in grouped.items() if items]

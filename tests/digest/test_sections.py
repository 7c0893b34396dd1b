"""Sections: Korean and English headlines land where a reader looks for them (labelled set floor).

tests/data/sections.jsonl holds headlines labelled by the rule the sections follow:
deals, partnerships, acquisitions, financing, results and plants → 기업·투자;
approvals, filings, trials and research → 연구·임상; government policy, support and
regulation → 정책·지원; overseas markets and foreign policy → 해외; people, events and
columns → 기타. bench/README.md reports the accuracy.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailer.digest.sections import group_into_sections
from mailer.models import StoryView

LABELLED = Path(__file__).resolve().parent.parent / "data" / "sections.jsonl"
ACCURACY_FLOOR = 0.9


def _headlines(split=None):
    rows = [json.loads(line) for line in LABELLED.read_text("utf-8").splitlines() if line]
    return [row for row in rows if split is None or row["split"] == split]


def sectioned(titles, settings=None, *, sections=None):
    views = [
        StoryView(
            title=title,
            url="https://n.example/",
            source="s",
            published=datetime.now(UTC),
            summary="",
            story_id=index,
        )  # fmt: skip
        for index, title in enumerate(titles)
    ]
    found = {}
    if sections is None:
        sections = settings.digest.sections
    for section in group_into_sections(views, sections=sections, fallback="기타"):
        found.update((story.story_id, section.title) for story in section.stories)
    return [found[index] for index in range(len(titles))]


def test_the_labelled_set_covers_every_section_in_both_languages():
    rows = _headlines()
    assert len(rows) >= 80
    for section in ("정책·지원", "기업·투자", "연구·임상", "해외", "기타"):
        titles = [row["title"] for row in rows if row["section"] == section]
        assert any(title.isascii() for title in titles), section
        assert any(not title.isascii() for title in titles), section


@pytest.mark.parametrize("split", [None, "development", "held-out"])
def test_accuracy_on_the_labelled_headlines_with_the_shipped_sections(make_settings, split):
    rows = _headlines(split)
    got = sectioned([row["title"] for row in rows], make_settings())
    wrong = [
        f"{row['section']} <- {section}: {row['title']}"
        for row, section in zip(rows, got, strict=True)
        if section != row["section"]
    ]
    assert 1 - len(wrong) / len(rows) >= ACCURACY_FLOOR, "\n".join(wrong)


def test_english_deal_news_is_company_news(make_settings):
    settings = make_settings()
    assert sectioned(
        [
            "Pfizer inks $2B licensing deal with 3SBio",
            "Pfizer acquires Seagen",
            "FDA approves Kisunla",
        ],
        settings,
    ) == ["기업·투자", "기업·투자", "연구·임상"]


def test_english_endings_and_prefixes():
    sections = {"A": ["deal", "acquir*"], "B": ["eu"]}
    titles = ["Two deals", "Lilly acquires Verve", "Neutral news", "EU nod"]
    assert sectioned(titles, sections=sections) == [
        "A",
        "A",
        "기타",
        "B",
    ]

"""Sections: Korean and English headlines land where a reader looks for them (labelled set floor).

tests/data/sections.jsonl holds headlines labelled by the rule in tests/labelled.py;
bench/README.md reports the accuracy.
"""

from __future__ import annotations

import pytest

from tests.labelled import load_headlines, misfiled, sectioned

ACCURACY_FLOOR = 0.9


def test_the_labelled_set_covers_every_section_in_both_languages():
    rows = load_headlines()
    assert len(rows) >= 80
    for section in ("정책·지원", "기업·투자", "연구·임상", "해외", "기타"):
        titles = [row["title"] for row in rows if row["section"] == section]
        assert any(title.isascii() for title in titles), section
        assert any(not title.isascii() for title in titles), section


@pytest.mark.parametrize("split", [None, "development", "held-out"])
def test_accuracy_on_the_labelled_headlines_with_the_shipped_sections(make_settings, split):
    total, wrong = misfiled(split, make_settings().digest.sections)
    assert 1 - len(wrong) / total >= ACCURACY_FLOOR, "\n".join(wrong)


def test_english_deal_news_is_company_news(make_settings):
    sections = make_settings().digest.sections
    assert sectioned(
        [
            "Pfizer inks $2B licensing deal with 3SBio",
            "Pfizer acquires Seagen",
            "FDA approves Kisunla",
        ],
        sections,
    ) == ["기업·투자", "기업·투자", "연구·임상"]


def test_english_endings_and_prefixes():
    sections = {"A": ["deal", "acquir*"], "B": ["eu"]}
    titles = ["Two deals", "Lilly acquires Verve", "Neutral news", "EU nod"]
    assert sectioned(titles, sections) == [
        "A",
        "A",
        "기타",
        "B",
    ]

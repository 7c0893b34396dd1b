"""Near-duplicates: the same news in other words is one story; different news stays apart.

The floor is measured on tests/data/near_duplicates.jsonl (labelled pairs of Korean and
English headlines and summaries, hard negatives included); bench/README.md reports the
figures and how the threshold was chosen.
"""

from __future__ import annotations

from collections import Counter

import pytest

from mailer.feeds import conflict, same_news, story_print
from tests.labelled import evaluate, load_pairs

PRECISION_FLOOR = 0.98
RECALL_FLOOR = 0.9


def test_the_labelled_set_is_large_and_has_hard_negatives():
    pairs = load_pairs()
    assert len(pairs) >= 150
    kinds = Counter(pair["kind"] for pair in pairs if pair["label"] == "different")
    # The hard negatives the issue names: one company twice in a week, two quarters, two drugs.
    assert kinds["same company, same week"] >= 5
    assert kinds["quarters"] >= 4
    assert kinds["two drugs"] >= 4
    assert all(pair["reason"] and pair["split"] in ("development", "held-out") for pair in pairs)
    korean = sum(any("가" <= char <= "힣" for char in pair["a"]["title"]) for pair in pairs)
    assert 0.3 * len(pairs) < korean < 0.9 * len(pairs)


@pytest.mark.parametrize("split", [None, "development", "held-out"])
def test_precision_and_recall_on_the_labelled_pairs_stay_above_the_floor(split):
    outcome = evaluate(load_pairs(split))
    wrong = "\n".join(
        f"{pair['label']}: {pair['a']['title']} || {pair['b']['title']}" for pair in outcome.wrong
    )
    assert outcome.precision >= PRECISION_FLOOR, wrong
    assert outcome.recall >= RECALL_FLOOR, wrong


def _same(title_a, title_b, summary_a="", summary_b=""):
    return same_news(story_print(title_a, summary_a), story_print(title_b, summary_b))


def test_the_reprint_of_the_issue_is_one_story():
    assert _same(
        "셀트리온, 美 FDA서 '짐펜트라' 품목허가 획득",
        "[속보] 셀트리온 짐펜트라, 미국 FDA 허가",
        "셀트리온이 미국 식품의약국(FDA)으로부터 '짐펜트라'의 품목허가를 받았다.",
        "셀트리온의 짐펜트라가 미국 FDA 허가를 받았다.",
    )


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        (
            "삼성바이오로직스, 3분기 매출 1조1871억원",
            "삼성바이오로직스, 2분기 매출 1조1569억원",
            "numbers",
        ),
        (
            "Novo Nordisk Q3 sales rise on Wegovy",
            "Novo Nordisk second-quarter sales rise on Wegovy",
            "numbers",
        ),
        ("셀트리온 '스테키마' 美 FDA 허가", "셀트리온 '옴리클로' 美 FDA 허가", "names"),
        ("유한양행 '렉라자', 美 FDA 승인", "유한양행 '렉라자', 유럽 EC 승인", "places"),
        ("셀트리온, '짐펜트라' 美 FDA 허가", "셀트리온, '짐펜트라' 미국 출시", "events"),
        ("HLB 간암 신약, 美 FDA 허가 획득", "HLB 간암 신약, 美 FDA 허가 불발", "setback"),
        (
            "FDA approves Lilly's Zepbound for sleep apnea",
            "FDA approves Lilly's Zepbound for weight loss",
            "conditions",
        ),
        (
            "큐로셀, 300억원 규모 시리즈C 투자 유치",
            "에이인비, 300억원 규모 시리즈C 투자 유치",
            "names",
        ),
        (
            "Amgen's MariTide succeeds in mid-stage trial",
            "Amgen's MariTide succeeds in phase 3 trial",
            "numbers",
        ),
    ],
)
def test_facts_that_disagree_split_similar_headlines(a, b, reason):
    found = conflict(story_print(a), story_print(b))
    assert found is not None and found.startswith(reason)
    assert not _same(a, b)


def test_amounts_written_differently_agree():
    assert (
        conflict(
            story_print("에이비엘바이오, 사노피에 1조3000억 기술이전"),
            story_print("에이비엘바이오, 사노피에 1.3조 기술수출"),
        )
        is None
    )
    assert (
        conflict(
            story_print("Pfizer inks $4.9B deal for Metsera"),
            story_print("Pfizer to acquire Metsera for up to $4.9 billion"),
        )
        is None
    )


def test_a_headline_figure_stated_in_the_other_summary_agrees():
    revenue = story_print("삼성바이오로직스, 3분기 매출 1조1871억원", "영업이익은 3386억원이다.")
    profit = story_print(
        "삼바, 3분기 영업이익 3386억원", "삼성바이오로직스의 매출은 1조1871억원이다."
    )
    assert conflict(revenue, profit) is None

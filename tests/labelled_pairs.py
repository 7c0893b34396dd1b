"""The labelled near-duplicate pairs (tests/data/near_duplicates.jsonl) and how a scorer does on them.

Each line is one pair of stories — ``{"label": "same"|"different", "kind", "reason",
"split": "development"|"held-out", "a": {"title", "summary", "source"}, "b": {…}}`` —
written in the style of Korean and English outlets (the stories are made up for the
test). The development pairs chose the rules and the threshold; the held-out pairs
were written afterwards and measured once (bench/README.md, "Near-duplicates").
Used by the test of the floor and by ``python -m bench clusters``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mailer.feeds import same_news, story_print

PAIRS_FILE = Path(__file__).parent / "data" / "near_duplicates.jsonl"


@dataclass(frozen=True)
class Outcome:
    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int
    wrong: tuple[dict, ...]  #: the pairs decided wrongly

    @property
    def precision(self) -> float:
        judged_same = self.true_positive + self.false_positive
        return self.true_positive / judged_same if judged_same else 1.0

    @property
    def recall(self) -> float:
        same = self.true_positive + self.false_negative
        return self.true_positive / same if same else 1.0


def load_pairs(split: str | None = None) -> list[dict]:
    pairs = [json.loads(line) for line in PAIRS_FILE.read_text("utf-8").splitlines() if line]
    return [pair for pair in pairs if split is None or pair["split"] == split]


def evaluate(pairs: list[dict], *, threshold: float | None = None) -> Outcome:
    """How :func:`mailer.feeds.same_news` decides ``pairs`` (at ``threshold``, default its own)."""
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    wrong = []
    for pair in pairs:
        a = story_print(pair["a"]["title"], pair["a"]["summary"])
        b = story_print(pair["b"]["title"], pair["b"]["summary"])
        judged = same_news(a, b) if threshold is None else same_news(a, b, threshold=threshold)
        actual = pair["label"] == "same"
        key = ("t" if judged == actual else "f") + ("p" if judged else "n")
        counts[key] += 1
        if judged != actual:
            wrong.append(pair)
    return Outcome(counts["tp"], counts["fp"], counts["fn"], counts["tn"], tuple(wrong))

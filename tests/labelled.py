"""The labelled sets: near-duplicate pairs and sectioned headlines, and how the code does on them.

**Pairs** (tests/data/near_duplicates.jsonl):
Each line is one pair of stories — ``{"label": "same"|"different", "kind", "reason",
"split": "development"|"held-out", "a": {"title", "summary", "source"}, "b": {…}}`` —
written in the style of Korean and English outlets (the stories are made up for the
test). The development pairs chose the rules and the threshold; the held-out pairs
were written afterwards and measured once (bench/README.md, "Near-duplicates").

**Headlines** (tests/data/sections.jsonl): ``{"title", "section", "reason", "split"}``,
labelled by the rule the sections follow — deals, partnerships, acquisitions,
financing, results and plants → 기업·투자; approvals, filings, trials and research →
연구·임상; government policy, support and regulation → 정책·지원; overseas markets and
foreign policy → 해외; people, events and columns → 기타. Both sets were split the
same way; the sections' held-out headlines were written with the development ones,
before the keywords were tuned on the latter.

Used by the tests of the floors and by ``python -m bench clusters`` / ``sections``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mailer.digest import group_into_sections
from mailer.feeds import same_news, story_print
from mailer.models import StoryView

PAIRS_FILE = Path(__file__).parent / "data" / "near_duplicates.jsonl"
HEADLINES_FILE = Path(__file__).parent / "data" / "sections.jsonl"


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


def _load(path: Path, split: str | None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    return [row for row in rows if split is None or row["split"] == split]


def load_pairs(split: str | None = None) -> list[dict]:
    return _load(PAIRS_FILE, split)


def load_headlines(split: str | None = None) -> list[dict]:
    return _load(HEADLINES_FILE, split)


def sectioned(titles: Sequence[str], sections: Mapping[str, Sequence[str]]) -> list[str]:
    """The section each headline goes to (fallback 기타), in the order given."""
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
    for section in group_into_sections(views, sections=sections, fallback="기타"):
        found.update((story.story_id, section.title) for story in section.stories)
    return [found[index] for index in range(len(titles))]


def misfiled(split: str | None, sections: Mapping[str, Sequence[str]]) -> tuple[int, list[str]]:
    """How many labelled headlines there are, and the ones that land in another section."""
    rows = load_headlines(split)
    got = sectioned([row["title"] for row in rows], sections)
    wrong = [
        f"{row['section']} <- {section}: {row['title']}"
        for row, section in zip(rows, got, strict=True)
        if section != row["section"]
    ]
    return len(rows), wrong


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

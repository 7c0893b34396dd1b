"""Join the candidate stories of an edition that are the same news told by several outlets.

The poll step already gave reprints with equal headlines (after desk tags and outlet
names are removed) one ``cluster_key``; the store hands those over as one entry.
Here the remaining near-duplicates — a reworded headline, another verb, the subject
moved — are found by :func:`mailer.feeds.same_news` and joined:

- **Blocking**, so that 2,000 stories are not 2 million comparisons: every story is
  indexed under its headline bigrams, and only stories sharing one are compared. A
  bigram carried by more than :data:`MAX_BLOCK` stories of the window ("허가",
  "바이오") picks out nothing and is not a key; the names of companies and drugs are
  what two reworded reprints share, and those are rarer.
- **Joining**, best pairs first. Two groups join only if no member of one conflicts
  with a member of the other, so a vague story ("K-바이오 세미나 개최") cannot chain
  two different ones ("세미나 2회차", "세미나 3회차") into one entry.
- **Showing**: an entry is led by its best-ranked member (candidates arrive ranked);
  the other members' outlets become ``also_reported_by`` ("함께 보도: …").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from itertools import combinations

from mailer.feeds import (
    StoryPrint,
    conflict,
    jaccard,
    outlet_names,
    similar_enough,
    story_print,
)
from mailer.models import StoryView

#: A bigram shared by more stories than this is too common to be a key.
MAX_BLOCK = 20
#: Pairs whose headlines share less than this are not scored further (the facts can
#: add at most 0.2; no labelled same-news pair is below 0.1).
MIN_HEADLINE_JACCARD = 0.08


def merge_near_duplicates(
    stories: Sequence[StoryView], /, *, outlets: Iterable[str] = ()
) -> list[StoryView]:
    """``stories`` (ranked, best first) with the same news joined into one entry each, in rank order."""
    # The window's outlets, so "… - 시흥신문" loses its tail even if no list knows it.
    names = outlet_names(tuple(sorted({*outlets, *(story.source for story in stories)})))
    prints = [story_print(story.title, story.summary, outlets=names) for story in stories]
    groups = cluster(prints)
    return [_joined([stories[index] for index in members]) for members in groups]


def cluster(prints: Sequence[StoryPrint]) -> list[list[int]]:
    """Groups of indices into ``prints`` that are one piece of news, each in index order,
    the groups ordered by their first index."""
    parent = list(range(len(prints)))
    members: dict[int, list[int]] = {index: [index] for index in range(len(prints))}

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for _, left, right in _scored_pairs(prints):
        a, b = root(left), root(right)
        if a == b:
            continue
        if any(conflict(prints[x], prints[y]) for x in members[a] for y in members[b]):
            continue
        keep, gone = min(a, b), max(a, b)
        parent[gone] = keep
        members[keep] = sorted(members[keep] + members.pop(gone))
    return [members[index] for index in sorted(members)]


def _scored_pairs(prints: Sequence[StoryPrint]) -> list[tuple[float, int, int]]:
    """Candidate pairs at or above the threshold and without a conflict, most alike words first."""
    frequency = Counter(gram for story in prints for gram in story.title_grams)
    blocks: dict[str, list[int]] = defaultdict(list)
    for index, story in enumerate(prints):
        for gram in story.title_grams:
            if 1 < frequency[gram] <= MAX_BLOCK:
                blocks[gram].append(index)
    pairs: set[tuple[int, int]] = set()
    for block in blocks.values():
        pairs.update(combinations(block, 2))
    scored = []
    for left, right in pairs:
        a, b = prints[left], prints[right]
        title = jaccard(a.title_grams, b.title_grams)
        if title < MIN_HEADLINE_JACCARD:
            continue
        value = similar_enough(a, b, title=title)
        if value is not None and conflict(a, b) is None:
            scored.append((value, left, right))
    scored.sort(key=lambda item: (-item[0], item[1], item[2]))
    return scored


def _joined(members: list[StoryView]) -> StoryView:
    """One entry: the best-ranked member, every member's outlets but its own as "also reported by"."""
    lead = members[0]
    if len(members) == 1:
        return lead
    outlets: list[str] = []
    for story in members:
        for name in (story.source, *story.also_reported_by):
            if name != lead.source and name not in outlets:
                outlets.append(name)
    ids: list[int] = []
    for story in members:
        for story_id in story.member_ids or (story.story_id,):
            if story_id not in ids:
                ids.append(story_id)
    return replace(lead, also_reported_by=tuple(outlets), member_ids=tuple(ids))

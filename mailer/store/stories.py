"""Story rows: what the poll step stores and what the digest step may select."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, exists, select

from mailer.models import EditionState, StoryView
from mailer.store.tables import edition_stories, editions, stories, story_sources


def select_candidates(conn: Connection, /, *, since: datetime, limit: int) -> list[StoryView]:
    """Relevant stories published since ``since`` and not in an earlier sent edition.

    Ranked by relevance, then recency; a cluster of near-duplicates (same
    ``cluster_key``) becomes one entry, shown by its best-ranked member, with the
    other outlets listed in ``also_reported_by``. At most ``limit`` entries.
    """
    already_sent = exists(
        select(edition_stories.c.story_id)
        .join(editions, editions.c.id == edition_stories.c.edition_id)
        .where(
            and_(
                edition_stories.c.story_id == stories.c.id,
                editions.c.state == str(EditionState.SENT),
            )
        )
    )
    rows = conn.execute(
        select(stories)
        .where(stories.c.relevant.is_(True), stories.c.published_at >= since, ~already_sent)
        .order_by(stories.c.relevance.desc(), stories.c.published_at.desc(), stories.c.id)
    ).mappings()
    clusters: dict[str, list] = {}
    for row in rows:
        clusters.setdefault(row["cluster_key"], []).append(row)
    chosen = list(clusters.values())[:limit]
    other_sources = _sources_by_story(conn, [row["id"] for members in chosen for row in members])
    views = []
    for members in chosen:
        lead = members[0]
        outlets: list[str] = []
        for row in members:
            for name in [row["source"], *other_sources.get(row["id"], [])]:
                if name != lead["source"] and name not in outlets:
                    outlets.append(name)
        views.append(
            StoryView(
                title=lead["title"],
                url=lead["url"],
                source=lead["source"],
                published=lead["published_at"],
                summary=lead["summary"],
                also_reported_by=tuple(outlets),
                score=lead["relevance"],
                matched_keywords=tuple(lead["matched_keywords"] or ()),
                story_id=lead["id"],
                member_ids=tuple(row["id"] for row in members),
            )
        )
    return views


def _sources_by_story(conn: Connection, story_ids: list[int]) -> dict[int, list[str]]:
    """Every outlet that carried each story (the same story from two feeds is one row)."""
    found: dict[int, list[str]] = {}
    for start in range(0, len(story_ids), 500):
        chunk = story_ids[start : start + 500]
        rows = conn.execute(
            select(story_sources.c.story_id, story_sources.c.source)
            .where(story_sources.c.story_id.in_(chunk))
            .order_by(story_sources.c.seen_at)
        )
        for story_id, source in rows:
            found.setdefault(story_id, []).append(source)
    return found

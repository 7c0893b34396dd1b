"""Story rows: what the poll step stores and what the digest step may select."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite

from mailer.models import EditionState, IncomingStory, StoryView
from mailer.store.tables import edition_stories, editions, stories, story_sources


def select_candidates(
    conn: Connection, /, *, since: datetime, limit: int | None = None
) -> list[StoryView]:
    """Relevant stories published since ``since`` and not in an earlier sent edition.

    Ranked by relevance, then recency; stories with one ``cluster_key`` (equal
    headlines once decorations are removed) become one entry, shown by its
    best-ranked member, with the other outlets listed in ``also_reported_by``. At
    most ``limit`` entries (None: all; the digest step joins reworded reprints
    before it caps the edition).
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
    chosen = list(clusters.values())[:limit] if limit is not None else list(clusters.values())
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


def record_stories(
    conn: Connection,
    items: Sequence[IncomingStory],
    /,
    *,
    feed_id: int,
    source: str,
    now: datetime,
) -> int:
    """Store a feed's items: one story per uid, one source row per (story, feed).

    A uid seen before (from this feed or another) keeps its story row; the feed is
    added as a source, and the story's relevance is raised if this feed rates it
    higher (a story is relevant if any feed carrying it finds it relevant).
    Returns how many items this feed had not delivered before.
    """
    unique: dict[str, IncomingStory] = {}
    for item in items:
        unique.setdefault(item.uid, item)
    if not unique:
        return 0
    # Sorted, so that concurrent writers on PostgreSQL take unique-index locks in
    # the same order and cannot deadlock each other.
    uids = sorted(unique)
    stored = _stories_by_uid(conn, uids)
    missing = [uid for uid in uids if uid not in stored]
    if missing:
        inserted = _insert_ignoring_duplicates(
            conn,
            stories,
            ["uid"],
            [
                {
                    "uid": uid,
                    "url": unique[uid].url,
                    "guid": unique[uid].guid,
                    "title": unique[uid].title,
                    "summary": unique[uid].summary,
                    "source": source,
                    "content_hash": unique[uid].content_hash,
                    "cluster_key": unique[uid].cluster_key,
                    "relevance": unique[uid].relevance,
                    "relevant": unique[uid].relevant,
                    "matched_keywords": list(unique[uid].matched_keywords),
                    "published_at": unique[uid].published_at,
                    "first_seen_at": now,
                }
                for uid in missing
            ],
            returning=(stories.c.id, stories.c.uid),
        )
        new_ids = {uid: story_id for story_id, uid in inserted}
        # Rows another poller inserted between our select and insert are looked up.
        raced = [uid for uid in missing if uid not in new_ids]
        stored.update(_stories_by_uid(conn, raced))
    else:
        new_ids = {}
    for uid, row in stored.items():
        item = unique[uid]
        if item.relevance > row.relevance or (item.relevant and not row.relevant):
            values: dict[str, Any] = {"relevant": bool(row.relevant or item.relevant)}
            if item.relevance > row.relevance:
                values.update(
                    relevance=item.relevance, matched_keywords=list(item.matched_keywords)
                )
            conn.execute(update(stories).where(stories.c.id == row.id).values(**values))
    ids = {uid: row.id for uid, row in stored.items()} | new_ids
    # A story this poll created has no sources yet; only older ones need checking.
    existing_ids = sorted(row.id for row in stored.values())
    known: set[int] = set()
    for start in range(0, len(existing_ids), 500):
        chunk = existing_ids[start : start + 500]
        known.update(
            conn.execute(
                select(story_sources.c.story_id).where(
                    story_sources.c.feed_id == feed_id, story_sources.c.story_id.in_(chunk)
                )
            ).scalars()
        )
    fresh = [
        {
            "story_id": ids[uid],
            "feed_id": feed_id,
            "source": source,
            "url": unique[uid].url,
            "seen_at": now,
        }
        for uid in uids
        if uid in ids and ids[uid] not in known
    ]
    if fresh:
        _insert_ignoring_duplicates(conn, story_sources, ["story_id", "feed_id"], fresh)
    return len(fresh)


def _stories_by_uid(conn: Connection, uids: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for start in range(0, len(uids), 500):
        chunk = uids[start : start + 500]
        for row in conn.execute(
            select(stories.c.id, stories.c.uid, stories.c.relevance, stories.c.relevant).where(
                stories.c.uid.in_(chunk)
            )
        ):
            found[row.uid] = row
    return found


def _insert_ignoring_duplicates(
    conn: Connection, table, keys: list[str], rows: list[dict[str, Any]], *, returning=()
) -> list[tuple]:
    """INSERT … ON CONFLICT DO NOTHING on both backends (another poller may have won the race).

    With ``returning``, the given columns of the rows actually inserted come back.
    """
    if conn.dialect.name == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    else:
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
    if returning:
        return [tuple(row) for row in conn.execute(statement.returning(*returning), rows)]
    conn.execute(statement, rows)
    return []

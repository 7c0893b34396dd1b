"""Story selection: window, relevance, ranking, clusters shown once, sent stories never again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from mailer.store.db import write_transaction
from mailer.store.stories import select_candidates
from mailer.store.tables import edition_stories, editions, feeds, stories, story_sources

NOW = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


def _story(
    conn, uid, *, title, source="A일보", relevance=1.0, relevant=True, age_days=1, cluster=None
):
    result = conn.execute(
        insert(stories).values(
            uid=uid,
            url=f"https://news.example.kr/{uid}",
            title=title,
            summary="",
            source=source,
            content_hash=uid,
            cluster_key=cluster or uid,
            relevance=relevance,
            relevant=relevant,
            matched_keywords=["바이오"],
            published_at=NOW - timedelta(days=age_days),
            first_seen_at=NOW,
        )
    )
    return result.inserted_primary_key[0]


def test_selection_rules(context):
    since = NOW - timedelta(days=7)
    with write_transaction(context.engine) as conn:
        feed_id = conn.execute(
            insert(feeds).values(name="B", url="https://b.example/rss", created_at=NOW)
        ).inserted_primary_key[0]
        top = _story(conn, "top", title="신약 임상 3상 성공", relevance=5)
        newer_low = _story(conn, "low-new", title="바이오 행사", relevance=1, age_days=0)
        older_low = _story(conn, "low-old", title="바이오 포럼", relevance=1, age_days=3)
        _story(conn, "old", title="오래된 바이오 소식", relevance=9, age_days=8)
        _story(conn, "irrelevant", title="날씨", relevance=0, relevant=False)
        reprint = _story(
            conn,
            "reprint",
            title="[속보] 신약 임상 3상 성공",
            source="C경제",
            relevance=4,
            cluster="top",
        )
        conn.execute(
            insert(story_sources).values(
                story_id=top, feed_id=feed_id, source="B신문", url="https://b/1", seen_at=NOW
            )
        )
        sent = _story(conn, "sent-before", title="지난주 바이오 뉴스", relevance=8)
        edition_id = conn.execute(
            insert(editions).values(
                number=1,
                schedule="digest",
                scheduled_for=NOW - timedelta(days=7),
                state="sent",
                created_at=NOW,
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(edition_stories).values(edition_id=edition_id, story_id=sent, position=0)
        )

    with context.engine.connect() as conn:
        picked = select_candidates(conn, since=since, limit=10)
    assert [view.story_id for view in picked] == [top, newer_low, older_low]
    assert picked[0].member_ids == (top, reprint)
    assert set(picked[0].also_reported_by) == {"C경제", "B신문"}
    with context.engine.connect() as conn:
        assert len(select_candidates(conn, since=since, limit=2)) == 2

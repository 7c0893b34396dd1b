"""Issue 11 item 4: a feed's control, bidi and zero-width characters never get into the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mailer import feeds as feed_catalog
from mailer.errors import ConfigError, InvalidInputError
from mailer.feeds.feedlist import load_feed_list
from mailer.feeds.poll import poll_feeds
from mailer.store import feeds as feed_store
from mailer.store.db import write_transaction
from mailer.store.tables import feeds, stories, story_sources
from mailer.unsafe_text import find_unsafe

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

#: An OSC that retitles the terminal, then a colour; what the attack run stored raw.
ESCAPES = "\x1b]0;pwned\x07\x1b[31m"
HOSTILE_FEED = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
    f"<title>{ESCAPES}바이오\u202e뉴스\u200b</title>"
    "<link>https://bio.example.kr/</link>"
    "<item>"
    f"<title>{ESCAPES}FDA 신약 승인\u2066\u200d\ufeff\u2028끝</title>"
    "<link>https://bio.example.kr/news/1\u200b?id=7\x1b</link>"
    f"<description>&lt;p&gt;임상 3상{ESCAPES}\u202a결과\u061c 발표&lt;/p&gt;</description>"
    "<pubDate>Mon, 07 Dec 2026 09:00:00 +0900</pubDate>"
    "</item>"
    "<item><title>연구팀 👩\u200d💻 개발</title><link>https://bio.example.kr/news/2</link>"
    "<pubDate>Mon, 07 Dec 2026 09:00:00 +0900</pubDate></item>"
    "</channel></rss>"
).encode()


async def test_titles_sources_summaries_and_links_are_stored_clean(make_context, feed_server):
    ctx = make_context()
    url = feed_server.add("/hostile.xml", HOSTILE_FEED)
    with write_transaction(ctx.engine) as conn:
        feed_store.add_feed(
            conn, url, name="", include_keywords=[], exclude_keywords=[], now=NOW - timedelta(1)
        )

    [result] = await poll_feeds(ctx, now=NOW)

    assert str(result.status) == "ok", result.error
    with ctx.engine.connect() as conn:
        stored = conn.execute(select(stories).order_by(stories.c.id)).mappings().all()
        sources = conn.execute(select(story_sources)).mappings().all()
        [feed] = conn.execute(select(feeds)).mappings().all()
    assert [row["title"] for row in stored] == [
        "]0;pwned[31mFDA 신약 승인 끝",
        "연구팀 👩\u200d💻 개발",  # the joiner inside an emoji stays: one picture, not two
    ]
    first = stored[0]
    assert first["url"] == "https://bio.example.kr/news/1%E2%80%8B?id=7%1B"
    assert "임상 3상]0;pwned[31m결과 발표" in first["summary"]
    assert feed["name"] == "]0;pwned[31m바이오뉴스"
    texts = [first["title"], first["summary"], first["url"], first["source"], feed["name"]]
    texts += [row["source"] for row in sources] + [row["url"] for row in sources]
    assert [text for text in texts if find_unsafe(text)] == []


def test_a_feed_name_staff_type_is_refused_with_such_characters(make_context, tmp_path):
    ctx = make_context()
    for name in ("바이오\u202e뉴스", "\x1b[31m뉴스", "뉴스\u200b"):
        with pytest.raises(InvalidInputError, match="control or invisible character") as caught:
            feed_catalog.add_feed(ctx, "https://news.example.org/rss", name=name)
        assert caught.value.field == "name"
    assert feed_catalog.list_feeds(ctx) == []
    listed = tmp_path / "feeds.toml"
    listed.write_text('[[feed]]\nname = "뉴스\\u202e"\nurl = "https://news.example.org/rss"\n')
    with pytest.raises(ConfigError, match="feed 1: the name contains a control or invisible"):
        load_feed_list(listed)

"""The fidelity suite: every file in tests/feeds/fidelity/ polled as a user would, stored as it says.

Each file is served by a real HTTP server with the headers it names, registered with the
catalog's ``add_feed`` (what ``mailer feeds add`` calls) and read by ``poll_feeds``, on
SQLite and PostgreSQL; then the stored stories (title, link, date, optionally summary),
the poll status and the feed's warnings as ``mailer feeds list`` shows them are compared
with the expectation the file carries (tests/feeds/fidelity/README.md).
"""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy import select

from mailer.feeds.catalog import add_feed, list_feeds
from mailer.feeds.poll import poll_feeds
from mailer.store.tables import stories, story_sources
from tests.feeds.fidelity_files import FIRST_SEEN, feed_files, load_case

FILES = feed_files()


def stored_items(ctx, feed_id: int) -> list[dict]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(stories.c.title, stories.c.url, stories.c.summary, stories.c.published_at)
            .join(story_sources, story_sources.c.story_id == stories.c.id)
            .where(story_sources.c.feed_id == feed_id)
        ).all()
    return [
        {"title": row.title, "link": row.url, "date": row.published_at, "summary": row.summary}
        for row in rows
    ]


def comparable(items, *, now, with_summary: set[int]) -> list[dict]:
    """Items as sortable, readable dicts: dates in UTC ISO form, the poll time as "first-seen"."""
    shown = []
    for position, item in enumerate(items):
        date = item["date"].astimezone(UTC)
        entry = {
            "title": item["title"],
            "link": item["link"],
            "date": FIRST_SEEN if date == now else date.isoformat(),
        }
        if position in with_summary:
            entry["summary"] = item["summary"]
        shown.append(entry)
    return sorted(shown, key=lambda entry: (entry["link"], entry["title"], entry["date"]))


def test_the_suite_has_files_of_every_format():
    suffixes = {path.suffix for path in FILES}
    assert {".xml", ".json"} <= suffixes
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
async def test_feed_file_is_stored_as_it_says(path, make_context, feed_server):
    case = load_case(path, server=feed_server.url("").rstrip("/"))
    headers = dict(case.headers)
    content_type = next(value for name, value in headers.items() if name.lower() == "content-type")
    headers = {name: value for name, value in headers.items() if name.lower() != "content-type"}
    url = feed_server.add(
        f"/fidelity/{path.name}", case.body, content_type=content_type, headers=headers
    )
    ctx = make_context()
    feed = add_feed(ctx, url, now=case.now)

    [result] = await poll_feeds(ctx, now=case.now)

    [view] = [view.as_json() for view in list_feeds(ctx) if view.id == feed.id]
    assert str(result.status) == case.status, result.error
    if case.status == "error":
        assert case.error and case.error in (result.error or ""), result.error
        assert view["last_error"] == result.error
    warnings = view.get("warnings") or []
    for expected in case.warnings:
        assert any(expected in warning for warning in warnings), (expected, warnings)
    unexpected = [warning for warning in warnings if not any(e in warning for e in case.warnings)]
    assert not unexpected, "warnings the file does not expect"
    stored = stored_items(ctx, feed.id)
    # Summaries are compared where the file states them: match stored items to
    # expected ones by link and title first.
    wanted = {(item["link"], item["title"]) for item in case.items if "summary" in item}
    with_summary_stored = {
        index for index, item in enumerate(stored) if (item["link"], item["title"]) in wanted
    }
    with_summary_expected = {index for index, item in enumerate(case.items) if "summary" in item}
    assert comparable(stored, now=case.now, with_summary=with_summary_stored) == comparable(
        case.items, now=case.now, with_summary=with_summary_expected
    )

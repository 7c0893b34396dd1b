"""Group commit: queued writes share transactions, yet each one succeeds or fails on its own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select

from mailer.store.group_commit import GroupCommit
from mailer.store.tables import feeds

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def add(url):
    def work(conn):
        conn.execute(insert(feeds).values(name="n", url=url, created_at=NOW))
        return url

    return work


def count(context):
    with context.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(feeds)).scalar_one()


async def test_concurrent_writes_all_land(context):
    async with GroupCommit(context.engine, context.database) as writer:
        results = await asyncio.gather(
            *(writer.run(add(f"https://f{i}.example/rss")) for i in range(30))
        )
    assert results == [f"https://f{i}.example/rss" for i in range(30)]
    assert count(context) == 30


async def test_a_failing_write_fails_alone(context):
    def broken(conn):
        conn.execute(
            insert(feeds).values(name="x", url="https://broken.example/rss", created_at=NOW)
        )
        raise RuntimeError("this write is broken")

    async with GroupCommit(context.engine, context.database) as writer:
        outcomes = await asyncio.gather(
            writer.run(add("https://a.example/rss")),
            writer.run(broken),
            writer.run(add("https://b.example/rss")),
            return_exceptions=True,
        )
    assert outcomes[0] == "https://a.example/rss" and outcomes[2] == "https://b.example/rss"
    assert isinstance(outcomes[1], RuntimeError)
    with context.engine.connect() as conn:
        urls = sorted(conn.execute(select(feeds.c.url)).scalars())
    # The broken write's own insert was rolled back with it; the others were kept.
    assert urls == ["https://a.example/rss", "https://b.example/rss"]


async def test_a_database_error_reaches_the_caller(context):
    async with GroupCommit(context.engine, context.database) as writer:
        await writer.run(add("https://same.example/rss"))
        with pytest.raises(Exception, match="(?i)unique"):
            await writer.run(add("https://same.example/rss"))
    assert count(context) == 1

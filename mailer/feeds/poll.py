"""The poll step: fetch every due feed, parse, score and de-duplicate its items, store new stories.

``poll_feeds`` is what the scheduler and ``mailer feeds poll`` call. Feeds are fetched
concurrently (at most ``feeds.concurrency`` at once); each one's failure is caught,
recorded on its row with a backoff, and reported, so one bad feed never stops the
others (design §4, style rule 6). A feed's stories and its new HTTP validators are
saved in one transaction: the ETag that makes the next poll a cheap 304 is only
kept once the items it covers are stored (style rule 7).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mailer.config import Settings
from mailer.errors import FeedError, FeedGone
from mailer.feeds.fetch import Fetched, fetch_feed, make_client
from mailer.feeds.parse_pool import Parse, parser
from mailer.feeds.prepare import ParseJob, PreparedFeed
from mailer.feeds.relevance import build_rules
from mailer.models import FeedPollResult, FeedStatus
from mailer.retry import backoff_delay
from mailer.store import feeds as feed_store
from mailer.store.group_commit import GroupCommit
from mailer.store.stories import record_stories

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext

log = logging.getLogger(__name__)

#: Longest wait a server's Retry-After can impose on us.
MAX_RETRY_AFTER = timedelta(days=7)


async def poll_feeds(
    ctx: AppContext, /, *, now: datetime | None = None, only_due: bool = True
) -> list[FeedPollResult]:
    """Poll enabled feeds (with ``only_due``, skip those backing off); one result per feed.

    Each run writes one summary line (issue 14 item 3), its figures also as ``extra=``
    fields for the JSON log format; it names no feed, so it carries no URL's query.
    """
    started = time.monotonic()
    results = await _poll_due(ctx, now=now or datetime.now(UTC), only_due=only_due)
    totals, seconds = summarise(results), round(time.monotonic() - started, 3)
    figures = {
        "feeds": totals["feeds"],
        "ok": totals["ok"],
        "not_modified": totals["not_modified"],
        "error": totals["error"],
        "new_stories": totals["new"],
        "duration_seconds": seconds,
    }
    log.info(
        "feed poll: %(feeds)d feed(s) polled, %(ok)d ok, %(not_modified)d not modified, "
        "%(error)d error(s), %(new_stories)d new stories in %(duration_seconds).2f s",
        figures,
        extra={"event": "feed_poll", **figures},
    )
    return results


async def _poll_due(ctx: AppContext, /, *, now: datetime, only_due: bool) -> list[FeedPollResult]:
    """The poll itself: the due feeds, concurrently, through one client, parser pool and writer."""

    def read_due() -> tuple[list[dict[str, Any]], tuple[str, ...]]:
        with ctx.engine.connect() as conn:
            found = feed_store.feeds_to_poll(conn, now=now, only_due=only_due)
            return found, tuple(feed_store.outlet_names(conn))

    # Off the event loop: on SQLite a reader may wait for another process's write lock,
    # and `mailer serve` shares this loop with the web app and the send worker.
    due, outlets = await ctx.database.run(read_due)
    if not due:
        return []
    settings = ctx.settings
    async with (
        make_client(settings.feeds) as client,
        parser(processes=settings.feeds.parse_processes, jobs=len(due)) as parse,
        GroupCommit(ctx.engine, ctx.database) as writer,
    ):
        poller = _FeedPoller(
            settings, client=client, parse=parse, writer=writer, now=now, outlets=outlets
        )
        results = list(await asyncio.gather(*(poller.poll(feed) for feed in due)))
    polls = ctx.metrics.get().feed_polls
    for result in results:
        polls.labels(status=str(result.status)).inc()
    return results


def count_waiting(ctx: AppContext, /, *, now: datetime) -> int:
    """Enabled feeds a due-only poll at ``now`` skips because they are backing off."""
    with ctx.engine.connect() as conn:
        return feed_store.count_waiting(conn, now=now)


def backoff_until(
    failures: int, /, *, now: datetime, base: float, cap: float, retry_after: float | None = None
) -> datetime:
    """When to try a failing feed again: base × 2^(failures-1), at most ``cap``, never before Retry-After."""
    # The shared backoff, without jitter: one poller per feed needs no spreading, and
    # staff see the exact next poll time in `mailer feeds list`.
    delay = backoff_delay(failures, base=base, maximum=cap, jitter=False)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER.total_seconds()))
    return now + timedelta(seconds=delay)


def summarise(results: list[FeedPollResult]) -> dict[str, int]:
    """Counts by status and the number of new items, for human-readable output."""
    counts = Counter(str(result.status) for result in results)
    return {
        "feeds": len(results),
        "ok": counts.get("ok", 0),
        "not_modified": counts.get("not_modified", 0),
        "error": counts.get("error", 0),
        "new": sum(result.new for result in results),
    }


class _FeedPoller:
    """Polls one feed at a time on behalf of :func:`poll_feeds` (shared client, parser, writer)."""

    def __init__(
        self,
        settings: Settings,
        *,
        client,
        parse: Parse,
        writer: GroupCommit,
        now: datetime,
        outlets: tuple[str, ...],
    ) -> None:
        self.settings = settings
        self.client = client
        self.parse = parse
        self.writer = writer
        self.now = now
        self.outlets = outlets
        # A slot is held from the request until the body is parsed, so at most
        # ``concurrency`` bodies (each ≤ max_bytes) are in memory at once even when
        # downloads outpace the parsers.
        self.slots = asyncio.Semaphore(settings.feeds.concurrency)

    async def poll(self, feed: dict[str, Any]) -> FeedPollResult:
        url = feed["url"]
        try:
            return await self._poll(feed)
        except FeedGone as exc:
            message = f"{exc}; the feed was disabled (`mailer feeds enable` turns it back on)"
            await self._record_failure(feed, message, disable=True)
            return FeedPollResult(url=url, status=FeedStatus.ERROR, error=message)
        except FeedError as exc:
            await self._record_failure(feed, str(exc), retry_after=exc.retry_after)
            return FeedPollResult(url=url, status=FeedStatus.ERROR, error=str(exc))
        except Exception as exc:  # a bug or the store failing: report it, keep polling others
            log.exception("polling %s failed", url)
            message = f"internal error: {exc.__class__.__name__}: {exc}"
            await self._record_failure(feed, message)
            return FeedPollResult(url=url, status=FeedStatus.ERROR, error=message)

    async def _poll(self, feed: dict[str, Any]) -> FeedPollResult:
        settings = self.settings.feeds
        async with self.slots:
            fetched = await fetch_feed(
                feed["url"],
                client=self.client,
                timeout=settings.timeout,
                max_bytes=settings.max_bytes,
                etag=feed["etag"],
                last_modified=feed["last_modified"],
            )
            prepared = (
                None if fetched.status == "not_modified" else await self._parse(feed, fetched)
            )
        if prepared is None:
            await self.writer.run(
                lambda conn: feed_store.record_fetched(
                    conn,
                    feed["id"],
                    now=self.now,
                    status=str(FeedStatus.NOT_MODIFIED),
                    moved_to=fetched.moved_to,
                )
            )
            return FeedPollResult(url=feed["url"], status=FeedStatus.NOT_MODIFIED)
        name = None if feed["name"] else (prepared.title or urlsplit(feed["url"]).hostname)
        source = (feed["name"] or name or feed["url"])[:200]

        def store(conn) -> int:
            new = record_stories(
                conn, prepared.stories, feed_id=feed["id"], source=source, now=self.now
            )
            feed_store.record_fetched(
                conn,
                feed["id"],
                now=self.now,
                status=str(FeedStatus.OK),
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                update_validators=True,
                name=name,
                moved_to=fetched.moved_to,
                warnings=prepared.warnings,
            )
            return new

        new = await self.writer.run(store)
        return FeedPollResult(
            url=feed["url"], status=FeedStatus.OK, new=new, warnings=prepared.warnings
        )

    async def _parse(self, feed: dict[str, Any], fetched: Fetched) -> PreparedFeed:
        settings = self.settings.feeds
        job = ParseJob(
            body=fetched.body,
            url=fetched.url,
            headers=fetched.headers,
            zone=self.settings.timezone,
            rules=build_rules(
                use_defaults=settings.default_keywords,
                include=settings.include_keywords,
                exclude=settings.exclude_keywords,
                feed_include=feed["include_keywords"] or [],
                feed_exclude=feed["exclude_keywords"] or [],
                min_score=settings.min_score,
            ),
            outlets=self.outlets,
            now=self.now,
        )
        prepared = await self.parse(job)
        if prepared.problem:
            log.info("feed %s is malformed but readable: %s", feed["url"], prepared.problem)
        for warning in prepared.warnings:
            log.info("feed %s: %s", feed["url"], warning)
        return prepared

    async def _record_failure(
        self,
        feed: dict[str, Any],
        message: str,
        *,
        retry_after: float | None = None,
        disable: bool = False,
    ) -> None:
        settings = self.settings.feeds
        retry_at = None
        if not disable:
            retry_at = backoff_until(
                (feed["consecutive_failures"] or 0) + 1,
                now=self.now,
                base=settings.backoff_base,
                cap=settings.backoff_max,
                retry_after=retry_after,
            )
        try:
            await self.writer.run(
                lambda conn: feed_store.record_failure(
                    conn,
                    feed["id"],
                    now=self.now,
                    error=message,
                    next_attempt_at=retry_at,
                    disable=disable,
                )
            )
        except Exception:
            log.exception("could not record the failure of feed %s", feed["url"])

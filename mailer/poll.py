"""The poll step: fetch every due feed, parse, score and de-duplicate its items, store new stories.

``poll_feeds`` is what the scheduler and ``mailer feeds poll`` call. Feeds are fetched
concurrently (at most ``feeds.concurrency`` at once); each one's failure is caught,
recorded on its row with a backoff, and reported, so one bad feed never stops the
others (design §4, style rule 6). A feed's stories and its new HTTP validators are
saved in one transaction: the ETag that makes the next poll a cheap 304 is only
kept once the items it covers are stored (style rule 7).

Parsing is CPU work (feedparser is pure Python), so it runs off the event loop: in
a pool of worker processes when several feeds are polled, in a thread otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from mailer.config import Settings
from mailer.dedupe import canonical_url, clean_link, cluster_key, content_hash, story_uid
from mailer.errors import FeedError
from mailer.feeds import FeedEntry, FeedGoneError, fetch_feed, make_client, parse_feed
from mailer.keywords import RelevanceRules, build_rules, compile_rules
from mailer.models import FeedPollResult, FeedStatus
from mailer.store import feeds as feed_store
from mailer.store.stories import IncomingStory, record_stories

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.bootstrap import AppContext

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A published time this far in the future is not believed (clock skew, typos);
#: the first-seen time is used instead so the story cannot sit on top for weeks.
FUTURE_TOLERANCE = timedelta(hours=1)
#: Longest wait a server's Retry-After can impose on us.
MAX_RETRY_AFTER = timedelta(days=7)
#: Address space a parser process may use; a hostile document that got past the
#: size cap and the DOCTYPE removal fails with MemoryError instead of taking the machine.
PARSER_MEMORY_LIMIT = 2 * 1024**3


# -- the CPU part, run in a worker process or thread --------------------------------------------


@dataclass(frozen=True, slots=True)
class ParseJob:
    """Everything needed to turn one response body into stories (picklable)."""

    body: bytes
    url: str
    headers: dict[str, str]
    zone: str
    rules: RelevanceRules
    outlets: tuple[str, ...]
    now: datetime


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    title: str
    stories: list[IncomingStory]
    problem: str | None
    skipped: int


def prepare_feed(job: ParseJob) -> PreparedFeed:
    """Parse, normalise, score and identify one feed's items (pure; no I/O)."""
    parsed = parse_feed(job.body, url=job.url, headers=job.headers, zone=job.zone)
    rules = compile_rules(job.rules)
    fallback_link = parsed.link or job.url
    # A feed that gives several different items the same link (a section page,
    # say) must not collapse them into one story: those items are told apart by
    # guid or content instead.
    titles_by_link: dict[str, set[str]] = {}
    for entry in parsed.entries:
        if entry.link:
            titles_by_link.setdefault(canonical_url(entry.link), set()).add(entry.title)
    shared = {link for link, titles in titles_by_link.items() if len(titles) > 1}
    stories = [
        _story(entry, job=job, rules=rules, fallback_link=fallback_link, shared_links=shared)
        for entry in parsed.entries
    ]
    return PreparedFeed(
        title=parsed.title, stories=stories, problem=parsed.problem, skipped=parsed.skipped
    )


def _story(
    entry: FeedEntry, *, job: ParseJob, rules, fallback_link: str, shared_links: set[str]
) -> IncomingStory:
    digest = content_hash(entry.title, entry.text)
    identity_link = entry.link
    if identity_link and canonical_url(identity_link) in shared_links:
        identity_link = None
    uid = story_uid(link=identity_link, guid=entry.guid, digest=digest)
    relevance = rules.score(entry.title, entry.text)
    published = entry.published
    if published is None or published > job.now + FUTURE_TOLERANCE:
        published = job.now
    url = clean_link(entry.link or _guid_link(entry.guid) or fallback_link)
    return IncomingStory(
        uid=uid,
        url=url,
        guid=entry.guid,
        title=entry.title,
        summary=entry.summary,
        content_hash=digest,
        cluster_key=cluster_key(entry.title, uid=uid, outlets=job.outlets),
        relevance=relevance.score,
        relevant=relevance.relevant,
        matched_keywords=relevance.matched,
        published_at=published,
    )


def _guid_link(guid: str | None) -> str | None:
    if guid and urlsplit(guid).scheme in ("http", "https") and len(guid) <= 2000:
        return guid
    return None


def _ready() -> bool:
    return True


def _limit_parser_memory() -> None:
    """Initializer of parser processes: cap their address space (Linux/Unix only)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = (
            PARSER_MEMORY_LIMIT
            if hard == resource.RLIM_INFINITY
            else min(hard, PARSER_MEMORY_LIMIT)
        )
        if soft == resource.RLIM_INFINITY or soft > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):
        pass  # not available here; the size cap and DOCTYPE removal still apply


# -- the use case -------------------------------------------------------------------------------


async def poll_feeds(
    ctx: AppContext, /, *, now: datetime | None = None, only_due: bool = True
) -> list[FeedPollResult]:
    """Poll enabled feeds (with ``only_due``, skip those backing off); one result per feed."""
    now = now or datetime.now(UTC)
    with ctx.engine.connect() as conn:
        due = feed_store.feeds_to_poll(conn, now=now, only_due=only_due)
        outlets = tuple(feed_store.outlet_names(conn))
    if not due:
        return []
    settings = ctx.settings
    async with (
        make_client(settings.feeds) as client,
        _parser(settings, jobs=len(due)) as parse,
    ):
        poller = _FeedPoller(ctx, client=client, parse=parse, now=now, outlets=outlets)
        return list(await asyncio.gather(*(poller.poll(feed) for feed in due)))


def backoff_until(
    failures: int, /, *, now: datetime, base: float, cap: float, retry_after: float | None = None
) -> datetime:
    """When to try a failing feed again: base × 2^(failures-1), at most ``cap``, never before Retry-After."""
    delay = min(base * 2 ** max(failures - 1, 0), cap)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER.total_seconds()))
    return now + timedelta(seconds=delay)


class _FeedPoller:
    def __init__(
        self,
        ctx: AppContext,
        *,
        client,
        parse: Callable[[ParseJob], Any],
        now: datetime,
        outlets: tuple[str, ...],
    ) -> None:
        self.ctx = ctx
        self.settings: Settings = ctx.settings
        self.client = client
        self.parse = parse
        self.now = now
        self.outlets = outlets
        self.fetch_slots = asyncio.Semaphore(self.settings.feeds.concurrency)
        # One writer at a time from this process: SQLite allows one anyway, and it
        # keeps the thread pool from filling up with transactions waiting on a lock.
        self.write_lock = asyncio.Lock()

    async def poll(self, feed: dict[str, Any]) -> FeedPollResult:
        url = feed["url"]
        try:
            return await self._poll(feed)
        except FeedGoneError as exc:
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
        async with self.fetch_slots:
            fetched = await fetch_feed(
                feed["url"],
                client=self.client,
                timeout=settings.timeout,
                max_bytes=settings.max_bytes,
                etag=feed["etag"],
                last_modified=feed["last_modified"],
            )
        if fetched.status == "not_modified":
            await self._write(
                lambda conn: feed_store.record_fetched(
                    conn,
                    feed["id"],
                    now=self.now,
                    status=str(FeedStatus.NOT_MODIFIED),
                    moved_to=fetched.moved_to,
                )
            )
            return FeedPollResult(url=feed["url"], status=FeedStatus.NOT_MODIFIED)
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
        prepared: PreparedFeed = await self.parse(job)
        if prepared.problem:
            log.info("feed %s is malformed but readable: %s", feed["url"], prepared.problem)
        name = None if feed["name"] else (prepared.title or urlsplit(feed["url"]).hostname)
        source = feed["name"] or name or feed["url"]

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
            )
            return new

        new = await self._write(store)
        return FeedPollResult(url=feed["url"], status=FeedStatus.OK, new=new)

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
            await self._write(
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

    async def _write(self, work: Callable[[Any], T]) -> T:
        def run() -> T:
            with self.ctx.engine.begin() as conn:
                return work(conn)

        async with self.write_lock:
            return await asyncio.to_thread(run)


# -- where parsing runs -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _parser(settings: Settings, *, jobs: int) -> AsyncIterator[Callable[[ParseJob], Any]]:
    """An async ``parse(job)``: a process pool for several feeds, a thread for one."""
    processes = settings.feeds.parse_processes or os.cpu_count() or 1
    processes = min(processes, jobs)
    if processes <= 1:

        async def in_thread(job: ParseJob) -> PreparedFeed:
            return await asyncio.to_thread(prepare_feed, job)

        yield in_thread
        return
    pool = _ParserPool(processes)
    loop = asyncio.get_running_loop()
    warming = loop.run_in_executor(pool.control, pool.warm_up)
    try:
        yield pool.parse
    finally:
        with contextlib.suppress(Exception):
            await warming
        await loop.run_in_executor(None, pool.shutdown)


class _ParserPool:
    """Worker processes started by a fork server (no fork of a threaded process).

    If a worker dies (killed, out of memory), the feed it held fails with a clear
    error and a fresh pool takes the following jobs.
    """

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(["mailer.poll"])
        self.executor: Executor = self._new()
        # Starting processes blocks; it gets threads of its own so that it never
        # occupies the event loop's default executor, where name lookups for the
        # downloads run (a starved lookup would eat into a feed's timeout).
        self.control = ThreadPoolExecutor(max_workers=2, thread_name_prefix="parser-pool")

    def _new(self) -> Executor:
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=self.context,
            initializer=_limit_parser_memory,
        )

    def warm_up(self) -> None:
        """Start the fork server and the workers now, while the first feeds download."""
        futures = [self.executor.submit(_ready) for _ in range(self.processes)]
        for future in futures:
            future.result()

    async def parse(self, job: ParseJob) -> PreparedFeed:
        executor = self.executor
        try:
            # submit() may start the fork server and worker processes, which takes a
            # moment: never on the event loop, where it would stall every download.
            loop = asyncio.get_running_loop()
            future = await loop.run_in_executor(self.control, executor.submit, prepare_feed, job)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            if self.executor is executor:
                old, self.executor = executor, self._new()
                old.shutdown(wait=False, cancel_futures=True)
            raise FeedError("the parser process died while reading this feed") from None
        except MemoryError:
            raise FeedError("the feed needs more memory to parse than allowed") from None

    def shutdown(self) -> None:
        self.control.shutdown(wait=True)
        self.executor.shutdown(wait=True, cancel_futures=True)


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

"""Turn one feed response into stories: parse, normalise, score and identify every item.

Pure CPU work with no I/O, so that it can run in a worker process: the input
(:class:`ParseJob`) and output (:class:`PreparedFeed`) are picklable values. An item
that fails here is left out with a warning naming it; the feed's other items go on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from mailer.feeds.dedupe import (
    canonical_url,
    clean_link,
    cluster_key,
    content_hash,
    outlet_names,
    story_uid,
)
from mailer.feeds.item_warnings import ItemWarnings
from mailer.feeds.jsonfeed import is_json_feed, parse_json_feed
from mailer.feeds.parse import FeedEntry, parse_feed
from mailer.feeds.relevance import CompiledRules, RelevanceRules, compile_rules
from mailer.models import IncomingStory

log = logging.getLogger(__name__)

#: A published time this far in the future is not believed (clock skew, typos);
#: the first-seen time is used instead so the story cannot sit on top for weeks.
FUTURE_TOLERANCE = timedelta(hours=1)
#: Longest link the stories table holds (links longer than this are dropped at parsing).
MAX_URL_LENGTH = 2000
#: Longest cluster key the stories table holds.
MAX_CLUSTER_KEY_LENGTH = 200


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
    #: What staff should know about the read, one line each (shown in `mailer feeds list`).
    warnings: tuple[str, ...] = ()


def prepare_feed(job: ParseJob) -> PreparedFeed:
    """Parse, normalise, score and identify one feed's items (pure; no I/O)."""
    # JSON Feed is mapped onto the entries RSS and Atom give; all below is shared.
    read = parse_json_feed if is_json_feed(job.body, job.headers) else parse_feed
    parsed = read(job.body, url=job.url, headers=job.headers, zone=job.zone)
    rules = compile_rules(job.rules)
    outlets = outlet_names(job.outlets)
    fallback_link = parsed.link or job.url
    # A feed that gives several different items the same link (a section page,
    # say) must not collapse them into one story: those items are told apart by
    # guid or content instead.
    warnings = ItemWarnings(parsed.warnings, total=parsed.warning_count)
    failed: set[int] = set()

    def item_failed(index: int, step: str, exc: Exception) -> None:
        label = f'item {index + 1} "{parsed.entries[index].title[:60]}"'
        log.debug("feed %s: %s failed at %s", job.url, label, step, exc_info=True)
        warnings.add(label, f"skipped, {step} failed ({exc.__class__.__name__}: {exc})")
        failed.add(index)

    canonical: list[str | None] = []
    for index, entry in enumerate(parsed.entries):
        try:
            canonical.append(canonical_url(entry.link) if entry.link else None)
        except MemoryError:
            raise
        except Exception as exc:  # a bug or an input nobody foresaw: this item only
            item_failed(index, "reading its link", exc)
            canonical.append(None)
    titles_by_link: dict[str, set[str]] = {}
    for entry, link in zip(parsed.entries, canonical, strict=True):
        if link:
            titles_by_link.setdefault(link, set()).add(entry.title)
    shared = {link for link, titles in titles_by_link.items() if len(titles) > 1}
    stories = []
    for index, (entry, link) in enumerate(zip(parsed.entries, canonical, strict=True)):
        if index in failed:
            continue
        try:
            story = _story(
                entry,
                job=job,
                rules=rules,
                outlets=outlets,
                fallback_link=fallback_link,
                identity_link=None if link in shared else link,
            )
            _check_storable(story)
        except MemoryError:
            raise
        except Exception as exc:
            item_failed(index, "preparing it for storage", exc)
            continue
        stories.append(story)
    return PreparedFeed(
        title=parsed.title,
        stories=stories,
        problem=parsed.problem,
        skipped=parsed.skipped + len(failed),
        warnings=warnings.lines(),
    )


def _story(
    entry: FeedEntry,
    *,
    job: ParseJob,
    rules: CompiledRules,
    outlets: frozenset[str],
    fallback_link: str,
    identity_link: str | None,
) -> IncomingStory:
    digest = content_hash(entry.title, entry.text)
    uid = story_uid(canonical=identity_link, guid=entry.guid, digest=digest)
    relevance = rules.score(entry.title, entry.text)
    published = entry.published
    if published is None or published > job.now + FUTURE_TOLERANCE:
        published = job.now
    original = entry.link or _guid_link(entry.guid) or fallback_link
    url = clean_link(original)
    if len(url) > MAX_URL_LENGTH:  # re-encoding can lengthen a link past the column
        url = original
    return IncomingStory(
        uid=uid,
        url=url,
        guid=entry.guid,
        title=entry.title,
        summary=entry.summary,
        content_hash=digest,
        cluster_key=cluster_key(entry.title, uid=uid, outlets=outlets),
        relevance=relevance.score,
        relevant=relevance.relevant,
        matched_keywords=relevance.matched,
        published_at=published,
    )


def _guid_link(guid: str | None) -> str | None:
    if not guid or len(guid) > 2000:
        return None
    try:
        scheme = urlsplit(guid).scheme
    except ValueError:  # "http://[::1/…" is no link to show
        return None
    return guid if scheme in ("http", "https") else None


def _check_storable(story: IncomingStory) -> None:
    """ValueError when a value would not fit its column: one item refused, not the whole batch."""
    for name, value, limit in (
        ("uid", story.uid, 2000),
        ("url", story.url, MAX_URL_LENGTH),
        ("guid", story.guid or "", 2000),
        ("cluster key", story.cluster_key, MAX_CLUSTER_KEY_LENGTH),
    ):
        if len(value) > limit:
            raise ValueError(f"its {name} is longer than {limit} characters")
    for value in (story.uid, story.url, story.guid or "", story.title, story.summary):
        if "\x00" in value:  # PostgreSQL text cannot hold NUL
            raise ValueError("it contains a NUL character")

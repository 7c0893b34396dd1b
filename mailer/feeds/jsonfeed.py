"""Read JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) into the entries RSS and Atom give.

feedparser reads no JSON, so this maps a JSON Feed onto the same :class:`ParsedFeed`
the rest of the poll step consumes: the story identity, tracker removal, relevance and
de-duplication are then those of every other feed. The mapping:

- link: the item's ``url`` (its permalink), else ``external_url`` (the page a link-blog
  item points to); relative URLs are read against the feed's address;
- guid: ``id`` (a string; numbers, which 1.0 feeds often write, become one);
- title: ``title``, plain text, kept literally (no markup is removed from it); an item
  without one (a micro-blog post) is titled by the start of its text, as in RSS;
- summary: ``summary`` (plain text) when given, else ``content_html`` (sanitised like
  an RSS description), else ``content_text`` (plain text, paragraphs kept);
- date: ``date_published``, else ``date_modified`` (RFC 3339); one without a zone is
  read in the configured zone; one that cannot be read costs only the date (the item
  is dated when first seen) and is named in a warning;
- ``author`` (1.0) and ``authors`` (1.1) are accepted in either form and not stored: no
  story keeps an author, as for RSS ``author`` and Atom ``<author>``;
- keys starting with ``_`` are extensions and ignored.

A body that is not JSON, or JSON that is not a JSON Feed, is refused with an error that
says which ("not a feed: …").
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from mailer.errors import FeedError
from mailer.feeds.dates import UnreadableDate, read_date
from mailer.feeds.encoding import decode_body
from mailer.feeds.item_warnings import ItemWarnings
from mailer.feeds.mojibake import text_warnings
from mailer.feeds.parse import FeedEntry, ParsedFeed, _http_url
from mailer.feeds.sanitize import MAX_TITLE, clean_summary
from mailer.shorten import shorten
from mailer.unsafe_text import strip_unsafe

#: Media types a JSON Feed is served as (the first is the registered one).
JSON_TYPES = frozenset({"application/feed+json", "application/json"})
_VERSION = re.compile(r"^https?://jsonfeed\.org/version/(1(?:\.\d+)?)/?$")
_SPACES = re.compile(r"\s+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def is_json_feed(body: bytes, headers: Mapping[str, str]) -> bool:
    """True when the response is to be read as JSON: it starts like JSON, or is served as JSON.

    The body decides first: an XML document served as ``application/json`` is still read
    as XML, and a JSON Feed served as ``text/plain`` or ``application/octet-stream`` as JSON.
    """
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return False
    if head.startswith((b"{", b"[")):
        return True
    content_type = next(
        (value for name, value in headers.items() if name.lower() == "content-type"), ""
    )
    media = content_type.split(";")[0].strip().lower()
    return media in JSON_TYPES or media.endswith("+json")


def parse_json_feed(
    body: bytes, /, *, url: str, headers: Mapping[str, str], zone: str = "UTC"
) -> ParsedFeed:
    """Parse JSON Feed bytes; raises FeedError when they are not JSON or not a JSON Feed."""
    headers = {name.lower(): value for name, value in headers.items()}
    text, decision = decode_body(body, headers.get("content-type", ""))
    if not text.strip():
        raise FeedError("not a feed: the response was empty")
    document = _load(text)
    version = _version(document)
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedError('not a feed: the JSON Feed has no "items" list')
    tz = ZoneInfo(zone)
    entries: list[FeedEntry] = []
    warnings = ItemWarnings()
    skipped = 0
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            skipped += 1
            warnings.add(f"item {position}", "skipped, it is not a JSON object")
            continue
        entry = _entry(item, feed_url=url, zone=tz, label=_label(item, position), warnings=warnings)
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    title = _plain_title(document.get("title"))
    texts = [title, *(part for entry in entries for part in (entry.title, entry.text))]
    read_warnings = text_warnings(decision, texts)
    return ParsedFeed(
        title=title,
        link=_http_url(_string(document.get("home_page_url")), base=url),
        version=version,
        entries=entries,
        skipped=skipped,
        warnings=read_warnings + warnings.kept(),
        warning_count=len(read_warnings) + warnings.total,
    )


def _load(text: str) -> dict:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeedError(
            f"not a feed: the JSON is malformed (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise FeedError("not a feed: the JSON is nested too deeply to read") from None
    if not isinstance(document, dict):
        raise FeedError("not a feed: the JSON is not a JSON Feed (its top level is no object)")
    return document


def _version(document: dict) -> str:
    """feedparser-style version name ("json1", "json11"); FeedError if it is no JSON Feed."""
    match = _VERSION.match(_string(document.get("version")) or "")
    if not match:
        raise FeedError(
            "not a feed: the JSON is not a JSON Feed "
            '(no "version": "https://jsonfeed.org/version/1.1")'
        )
    return "json" + match.group(1).replace(".", "")


def _entry(
    item: dict, *, feed_url: str, zone: ZoneInfo, label: str, warnings: ItemWarnings
) -> FeedEntry | None:
    permalink = _http_url(_string(item.get("url")), base=feed_url)
    link = permalink or _http_url(_string(item.get("external_url")), base=feed_url)
    guid = _identifier(item.get("id"))
    summary, text = _summary(item, base_url=link or feed_url)
    title = _plain_title(item.get("title"))
    if not title and not text and not link:
        return None
    if not title:
        title = shorten(text, 80) if text else (link or "")
    published = None
    for name in ("date_published", "date_modified"):
        value = _string(item.get(name))
        if value is None or not value.strip():
            continue
        published = _date(value, zone=zone)
        if published is not None:
            break
        shown = value.strip()[:40]
        warnings.add(label, f"date {shown!r} could not be read; dated when first seen instead")
    return FeedEntry(
        link=link,
        guid=guid[:2000] if guid else None,
        title=title,
        summary=summary,
        text=text,
        published=published,
    )


def _summary(item: dict, *, base_url: str) -> tuple[str, str]:
    """(safe HTML, its text) from summary, content_html or content_text, the first given."""
    summary = _string(item.get("summary"))
    if summary and summary.strip():
        return clean_summary(_paragraphs(summary), base_url=base_url)
    content_html = _string(item.get("content_html"))
    if content_html and content_html.strip():
        return clean_summary(content_html, base_url=base_url)
    content_text = _string(item.get("content_text"))
    if content_text and content_text.strip():
        return clean_summary(_paragraphs(content_text), base_url=base_url)
    return "", ""


def _paragraphs(text: str) -> str:
    """Plain text as HTML: every character literal, blank lines between paragraphs kept."""
    parts = [part.strip() for part in _PARAGRAPH_BREAK.split(text) if part.strip()]
    if len(parts) <= 1:
        return html.escape(text.strip(), quote=False)
    return "".join(f"<p>{html.escape(part, quote=False)}</p>" for part in parts)


def _plain_title(value: object) -> str:
    """A plain-text title: its characters kept literally, unsafe ones removed, spaces collapsed."""
    text = _string(value)
    if not text:
        return ""
    text = _SPACES.sub(" ", strip_unsafe(text)).strip()
    if len(text) > MAX_TITLE:
        text = text[: MAX_TITLE - 1].rstrip() + "…"
    return text


def _date(value: str, *, zone: ZoneInfo) -> datetime | None:
    """The time in UTC, read like any feed's dates (zone-less ones in ``zone``); None when unreadable."""
    try:
        return read_date(value, zone=zone)
    except UnreadableDate:
        return None


def _identifier(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    return strip_unsafe(value).strip() or None


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _label(item: dict, position: int) -> str:
    title = _plain_title(item.get("title")) or _string(item.get("url")) or ""
    shown = title if len(title) <= 60 else title[:59] + "…"
    return f'item {position} "{shown}"' if shown else f"item {position}"

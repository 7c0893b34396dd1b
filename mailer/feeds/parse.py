"""Parse a feed's bytes into clean entries (feedparser): DOCTYPE removed, links absolute, times in UTC.

Pure CPU work, run off the event loop by the caller. The bytes and their HTTP
headers first go through ``encoding`` so that a declared charset is honoured and
Korean legacy encodings are read right. The DOCTYPE is removed before parsing:
feeds need no DTD, and internal entity declarations are what billion-laughs,
quadratic-blowup and external-entity (XXE) attacks are made of.
"""

from __future__ import annotations

import calendar
import codecs
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import feedparser

from mailer.errors import FeedError
from mailer.feeds.encoding import declare_encoding
from mailer.feeds.mojibake import text_warnings
from mailer.feeds.sanitize import clean_summary, clean_title
from mailer.shorten import shorten
from mailer.unsafe_text import quote_unsafe, strip_unsafe


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One item, normalised: absolute http(s) link, plain title, safe summary, UTC time."""

    link: str | None
    guid: str | None
    title: str
    summary: str
    text: str
    published: datetime | None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    #: The site the feed belongs to (channel link), when it gives a usable one.
    link: str | None
    version: str
    entries: list[FeedEntry]
    #: Set when the document was malformed and the entries are what could be recovered.
    problem: str | None = None
    skipped: int = 0
    #: What staff should know although the feed was read (text that may be garbled).
    warnings: tuple[str, ...] = ()


def parse_feed(
    body: bytes, /, *, url: str, headers: Mapping[str, str], zone: str = "UTC"
) -> ParsedFeed:
    """Parse RSS 0.9x/1.0/2.0 or Atom bytes; raises FeedError when they are not a feed.

    ``url`` is the address the bytes came from (base of relative links); ``zone`` is
    the time zone assumed for dates written without one (Korean sites often do).
    """
    if not body.strip():
        raise FeedError("not a feed: the response was empty")
    headers = {name.lower(): value for name, value in headers.items()}
    declared = declare_encoding(body, headers.get("content-type", ""))
    body, content_type = declared.body, declared.content_type
    body = strip_doctype(body)
    # No Content-Location: feedparser would then urljoin the base onto every element
    # (a third of its run time). Links are made absolute here instead, against the
    # xml:base feedparser still tracks and, under it, the feed's URL.
    response_headers = {"content-type": content_type}
    if "content-language" in headers:
        response_headers["content-language"] = headers["content-language"]
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers=response_headers,
        # nh3 sanitises and resolves links in summaries (sanitize.py); doing it twice
        # would only cost time.
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    entries_raw = parsed.get("entries") or []
    version = parsed.get("version") or ""
    if not version and not entries_raw:
        raise FeedError(_not_a_feed(parsed, content_type, body))
    tz = ZoneInfo(zone)
    entries: list[FeedEntry] = []
    skipped = 0
    for raw in entries_raw:
        entry = _entry(raw, feed_url=url, zone=tz)
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    problem = None
    if parsed.get("bozo"):
        problem = _bozo_text(parsed.get("bozo_exception"))
    channel = parsed.get("feed") or {}
    title = clean_title(channel.get("title"))
    texts = [title, *(text for entry in entries for text in (entry.title, entry.text))]
    return ParsedFeed(
        title=title,
        link=_http_url(channel.get("link"), base=url),
        version=version,
        entries=entries,
        problem=problem,
        skipped=skipped,
        warnings=text_warnings(declared.decision, texts),
    )


def _entry(raw: Mapping, *, feed_url: str, zone: ZoneInfo) -> FeedEntry | None:
    link = _http_url(raw.get("link"), base=_base(raw, "link", feed_url))
    guid = strip_unsafe(raw.get("id") or "").strip() or None
    summary_html = raw.get("summary") or ""
    detail = raw.get("summary_detail") or {}
    if not summary_html and raw.get("content"):
        first = raw["content"][0]
        summary_html = first.get("value") or ""
        detail = first
    base = urljoin(feed_url, detail["base"]) if detail.get("base") else feed_url
    summary, text = clean_summary(summary_html, base_url=base)
    title = clean_title(raw.get("title"))
    if not title and not text and not link:
        return None
    if not title:
        title = shorten(text, 80) if text else (link or "")
    return FeedEntry(
        link=link,
        guid=guid[:2000] if guid else None,
        title=title,
        summary=summary,
        text=text,
        published=_published(raw, zone=zone),
    )


def _base(raw: Mapping, name: str, feed_url: str) -> str:
    """The base URL in effect for one of an entry's fields: its xml:base over the feed URL."""
    base = (raw.get(f"{name}_detail") or {}).get("base")
    for link in raw.get("links") or ():
        if link.get("href") == raw.get(name) and link.get("base"):
            base = link["base"]
            break
    return urljoin(feed_url, base) if base else feed_url


def _http_url(value: str | None, *, base: str) -> str | None:
    if not value:
        return None
    # A control or invisible character is percent-encoded: the link opens the same
    # page a browser would request, and shows nothing hidden (issue 11).
    value = quote_unsafe(value.strip())
    # Most links are absolute already; joining them would only re-parse them.
    url = value if value.startswith(("http://", "https://")) else urljoin(base, value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        return None
    return url


#: A date string that states its own zone: "…Z", an offset, or a zone name (GMT, EST, KST).
_ZONE_SUFFIX = re.compile(r"(?:\dZ|[+-]\d{2}:?\d{2}|\s(?!am\b|pm\b)[A-Za-z]{1,5})\s*$", re.I)
#: Zone names Korean and Japanese feeds use that feedparser does not know (it reads them as UTC).
_EXTRA_ZONES = {"kst": timedelta(hours=9), "jst": timedelta(hours=9)}


def _published(raw: Mapping, *, zone: ZoneInfo) -> datetime | None:
    for name in ("published", "updated", "created"):
        parsed = raw.get(f"{name}_parsed")
        if not parsed:
            continue
        text = (raw.get(name) or "").strip()
        wall = datetime(*parsed[:6])
        suffix = text.rsplit(None, 1)[-1].lower() if text else ""
        if suffix in _EXTRA_ZONES:
            return (wall - _EXTRA_ZONES[suffix]).replace(tzinfo=UTC)
        if text and not _ZONE_SUFFIX.search(text):
            # No zone written: read the wall-clock time in the configured zone.
            return wall.replace(tzinfo=zone).astimezone(UTC)
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    return None


def _not_a_feed(parsed: Mapping, content_type: str, body: bytes) -> str:
    head = body[:512].lstrip().lower()
    if "html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html")):
        kind = content_type.split(";")[0].strip() or "text/html"
        return f"not a feed: the server sent an HTML page ({kind})"
    problem = _bozo_text(parsed.get("bozo_exception"))
    if problem:
        return f"not a feed: no RSS or Atom document found ({problem})"
    return "not a feed: no RSS or Atom document found"


def _bozo_text(exc: object) -> str | None:
    if exc is None:
        return None
    text = str(exc).strip() or exc.__class__.__name__
    return text.replace("<unknown>:", "line ")


_PROLOG_SKIP = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.S)
_DOCTYPE = re.compile(rb"<!doctype", re.I)


def strip_doctype(body: bytes) -> bytes:
    """Remove a DOCTYPE (and its internal subset of entity declarations) from the prolog.

    The scan honours quotes, brackets and comments inside the declaration, so an
    entity value containing ``]>`` cannot end it early. Entities then referenced in
    the document are undefined: the strict parser fails and feedparser's loose
    parser keeps the items with the reference as literal text, expanding nothing.
    """
    position = 0
    if body.startswith(codecs.BOM_UTF8):
        position = len(codecs.BOM_UTF8)
    while True:
        match = _PROLOG_SKIP.match(body, position)
        if not match or match.end() == position:
            break
        position = match.end()
    if not _DOCTYPE.match(body, position):
        return body
    end = _doctype_end(body, position + len(b"<!doctype"))
    return body[:position] + body[end:]


def _doctype_end(body: bytes, index: int) -> int:
    """Index just past the ``>`` that closes a DOCTYPE starting before ``index``."""
    depth = 0
    quote: int | None = None
    length = len(body)
    while index < length:
        byte = body[index]
        if quote is not None:
            if byte == quote:
                quote = None
        elif byte in (0x22, 0x27):  # " '
            quote = byte
        elif body.startswith(b"<!--", index):
            close = body.find(b"-->", index + 4)
            index = length if close < 0 else close + 3
            continue
        elif byte == 0x5B:  # [
            depth += 1
        elif byte == 0x5D:  # ]
            depth = max(0, depth - 1)
        elif byte == 0x3E and depth == 0:  # >
            return index + 1
        index += 1
    return length

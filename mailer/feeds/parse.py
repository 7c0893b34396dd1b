"""Parse a feed's bytes into clean entries (feedparser): DOCTYPE removed, links absolute, times in UTC.

Pure CPU work, run off the event loop by the caller. One bad item never fails its
feed: an item that cannot be read is skipped, a date that cannot be read is dropped
(the item is then dated when first seen), and either becomes a warning naming the
item (``ParsedFeed.warnings``, shown by ``mailer feeds list``). The bytes and their HTTP
headers first go through ``encoding`` so that a declared charset is honoured and
Korean legacy encodings are read right. The DOCTYPE is removed before parsing:
feeds need no DTD, and internal entity declarations are what billion-laughs,
quadratic-blowup and external-entity (XXE) attacks are made of.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import feedparser

from mailer.errors import FeedError
from mailer.feeds.dates import UnreadableDate, read_date
from mailer.feeds.encoding import declare_encoding
from mailer.feeds.item_warnings import ItemWarnings, item_label
from mailer.feeds.mojibake import text_warnings
from mailer.feeds.sanitize import clean_summary, clean_title, is_plain_text
from mailer.shorten import shorten
from mailer.unsafe_text import quote_unsafe, strip_unsafe

log = logging.getLogger(__name__)


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
    #: What single items lost (an unreadable date, the whole item), one line each:
    #: the first ``item_warnings.MAX_WARNINGS`` of ``warning_count``.
    warnings: tuple[str, ...] = ()
    warning_count: int = 0


def parse_feed(
    body: bytes, /, *, url: str, headers: Mapping[str, str], zone: str = "UTC"
) -> ParsedFeed:
    """Parse RSS 0.9x/1.0/2.0 or Atom bytes; raises FeedError when they are not a feed.

    ``url`` is the address the bytes came from; relative links are read against
    the response's ``Content-Location`` (RFC 9110 §8.7) when it sends one, else
    against ``url``. ``zone`` is the time zone assumed for dates written without one
    (Korean sites often do; see ``dates``).
    """
    if not body.strip():
        raise FeedError("not a feed: the response was empty")
    headers = {name.lower(): value for name, value in headers.items()}
    declared = declare_encoding(body, headers.get("content-type", ""))
    body, content_type = declared.body, declared.content_type
    body = strip_doctype(body)
    base_url = _content_base(url, headers.get("content-location"))
    # Links are made absolute here, against the xml:base feedparser tracks and, under
    # it, ``base_url``. feedparser is given that base only when the document uses
    # xml:base: with a base it urljoins it onto every element (a third of its run
    # time) and resolves relative ids too, and without one the xml:base of an item
    # outlives the item (its base stack cannot restore an empty root), so later items'
    # links are read against it, or lost when it is no URL at all. Whether a feed uses
    # xml:base does not change from poll to poll, so neither do its items' ids.
    response_headers = {"content-type": content_type}
    if b"xml:base" in body:
        response_headers["content-location"] = base_url
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
    warnings = ItemWarnings()
    for position, raw in enumerate(entries_raw, start=1):
        try:
            entry = _entry(raw, feed_url=base_url, zone=tz, warnings=warnings, position=position)
        except MemoryError:
            raise
        except Exception as exc:  # a bug or an input nobody foresaw: this item only
            label = item_label(raw, position)
            log.debug("feed %s: %s could not be read", url, label, exc_info=True)
            warnings.add(label, f"skipped, it could not be read ({exc.__class__.__name__}: {exc})")
            entry = None
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    problem = None
    if parsed.get("bozo"):
        problem = _bozo_text(parsed.get("bozo_exception"))
    channel = parsed.get("feed") or {}
    title = _title(channel)
    texts = [title, *(text for entry in entries for text in (entry.title, entry.text))]
    read_warnings = text_warnings(declared.decision, texts)
    return ParsedFeed(
        title=title,
        link=_http_url(channel.get("link"), base=base_url),
        version=version,
        entries=entries,
        problem=problem,
        skipped=skipped,
        warnings=read_warnings + warnings.kept(),
        warning_count=len(read_warnings) + warnings.total,
    )


def _entry(
    raw: Mapping, *, feed_url: str, zone: ZoneInfo, warnings: ItemWarnings, position: int
) -> FeedEntry | None:
    link = _http_url(raw.get("link"), base=_base(raw, "link", feed_url))
    if link is None and _malformed(raw.get("link")):
        warnings.add(
            item_label(raw, position),
            f"its link {_shown(raw['link'])} is no valid URL and was left out",
        )
    guid = strip_unsafe(raw.get("id") or "").strip() or None
    summary_html = raw.get("summary") or ""
    detail = raw.get("summary_detail") or {}
    if not summary_html and raw.get("content"):
        first = raw["content"][0]
        summary_html = first.get("value") or ""
        detail = first
    base = _join(feed_url, detail["base"]) if detail.get("base") else feed_url
    summary, text = clean_summary(
        summary_html, base_url=base, plain=is_plain_text(detail.get("type"))
    )
    title = _title(raw)
    if not title and not text and not link:
        return None
    if not title:
        title = shorten(text, 80) if text else (link or "")
    published, date_problem = _published(raw, zone=zone)
    if date_problem:
        warnings.add(item_label(raw, position), f"{date_problem}; dated when first seen instead")
    return FeedEntry(
        link=link,
        guid=guid[:2000] if guid else None,
        title=title,
        summary=summary,
        text=text,
        published=published,
    )


def _title(raw: Mapping) -> str:
    """An entry's or the channel's title; kept literally when the feed says it is plain text.

    feedparser has already undone the content mode (``escaped``, ``base64``) and
    reports the type: Atom ``type="text"`` and RSS titles without markup are
    ``text/plain``, whose ``<`` and ``&`` are characters of the headline.
    """
    detail = raw.get("title_detail") or {}
    return clean_title(raw.get("title"), plain=is_plain_text(detail.get("type")))


def _content_base(url: str, content_location: str | None) -> str:
    """The base of relative links: the Content-Location the server sent, resolved, if http(s)."""
    if not content_location:
        return url
    base = _http_url(content_location, base=url)
    return base or url


def _base(raw: Mapping, name: str, feed_url: str) -> str:
    """The base URL in effect for one of an entry's fields: its xml:base over the feed URL."""
    base = (raw.get(f"{name}_detail") or {}).get("base")
    for link in raw.get("links") or ():
        if link.get("href") == raw.get(name) and link.get("base"):
            base = link["base"]
            break
    return _join(feed_url, base) if base else feed_url


def _join(base: str, value: str) -> str:
    """``value`` read against ``base``; ``base`` itself when ``value`` is no URL ("http://[zz/")."""
    try:
        return urljoin(base, value)
    except ValueError:
        return base


def _http_url(value: str | None, *, base: str) -> str | None:
    if not value:
        return None
    # A control or invisible character is percent-encoded: the link opens the same
    # page a browser would request, and shows nothing hidden (issue 11).
    value = quote_unsafe(value.strip())
    try:
        # Most links are absolute already; joining them would only re-parse them.
        url = value if value.startswith(("http://", "https://")) else urljoin(base, value)
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # "http://[::1/x": no usable link, the item keeps the rest
        return None
    if parts.scheme not in ("http", "https") or not host or len(url) > 2000:
        return None
    return url


def _own(raw: Mapping, key: str):
    return dict.get(raw, key) if isinstance(raw, dict) else raw.get(key)


def _malformed(value: str | None) -> bool:
    """Whether a link cannot even be split into URL parts (a bad IPv6 literal, say)."""
    if not value:
        return False
    try:
        urlsplit(value.strip()).hostname  # noqa: B018 — parsing is the check
    except ValueError:
        return True
    return False


def _shown(value: str) -> str:
    value = " ".join(strip_unsafe(value).split())
    return '"' + (value if len(value) <= 80 else value[:79] + "…") + '"'


def _published(raw: Mapping, *, zone: ZoneInfo) -> tuple[datetime | None, str | None]:
    """(the item's time in UTC, or None; why a date it gives could not be read, or None).

    The first of published, updated and created that can be read wins; a later one
    stands in for an earlier one that cannot.
    """
    problem = None
    for name in ("published", "updated", "created"):
        # dict.get: feedparser's own get() answers "updated" with "published" (and a
        # DeprecationWarning), which would only read the same string twice.
        text = _own(raw, name)
        if not isinstance(text, str) or not text.strip():
            continue
        try:
            return read_date(text, zone=zone, parsed=_own(raw, f"{name}_parsed")), None
        except UnreadableDate as exc:
            problem = problem or f"date {exc}"
    return None, problem


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

"""Feed adapter: fetch a feed over HTTP (httpx) and parse its bytes into clean entries (feedparser).

Fetching (async): conditional GET (If-None-Match / If-Modified-Since, RFC 9110 §13),
one deadline for the whole exchange including redirects and the body, a size cap
on the decoded body (so a gzip bomb stops at the cap too), redirects followed by
hand so that each hop is checked by the SSRF guard, and the status codes that
matter to a feed reader: 301/308 move the feed, 410 removes it, 429/503 carry
Retry-After (RFC 9110 §10.2.3).

Parsing (sync, run off the event loop by the caller): the HTTP headers go to
feedparser so a declared charset is honoured; "EUC-KR" is read as its superset
CP949, as browsers do (WHATWG Encoding Standard, "euc-kr" label); undeclared
non-UTF-8 bytes that are valid CP949 are read as CP949. The DOCTYPE is removed
before parsing: feeds need no DTD, and internal entity declarations are what
billion-laughs, quadratic-blowup and external-entity (XXE) attacks are made of.
"""

from __future__ import annotations

import asyncio
import calendar
import codecs
import email.utils
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Literal
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import feedparser
import httpx

from mailer.config import FeedSettings
from mailer.errors import FeedError, FeedGone
from mailer.feeds.netguard import (
    BlockedAddressError,
    GuardedBackend,
    GuardedTransport,
    Resolver,
    check_url,
    parse_networks,
    system_resolver,
)
from mailer.feeds.sanitize import clean_summary, clean_title, shorten

#: Redirect hops followed before giving up (browsers allow 20; feeds need few).
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)


# -- fetching ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetched:
    """One completed fetch: a new body, or "not modified"."""

    status: Literal["ok", "not_modified"]
    url: str
    #: The feed's new address when every redirect on the way was permanent (301/308).
    moved_to: str | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None


def make_client(
    settings: FeedSettings, *, resolver: Resolver = system_resolver
) -> httpx.AsyncClient:
    """An HTTP client whose every connection passes the SSRF guard of ``settings``."""
    backend = GuardedBackend(
        allow_private=settings.allow_private,
        allowed_networks=parse_networks(settings.allow_networks),
        resolver=resolver,
    )
    # Fetches are bounded by the poller to ``concurrency``; a few spare connections
    # cover redirect hops to other hosts. A small pool also keeps httpcore's
    # per-request scan of its connections short.
    limits = httpx.Limits(
        max_connections=settings.concurrency + 4,
        max_keepalive_connections=settings.concurrency,
    )
    return httpx.AsyncClient(
        transport=GuardedTransport(backend=backend, limits=limits),
        headers={"User-Agent": settings.user_agent, "Accept": ACCEPT},
        # Each phase is also bounded here; the whole exchange by asyncio.timeout below.
        timeout=httpx.Timeout(settings.timeout),
        follow_redirects=False,
        trust_env=False,
    )


async def fetch_feed(
    url: str,
    /,
    *,
    client: httpx.AsyncClient,
    timeout: float,
    max_bytes: int,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    """GET ``url`` within ``timeout`` seconds in all; raises FeedError with a readable reason."""
    try:
        async with asyncio.timeout(timeout):
            return await _fetch(
                url, client=client, max_bytes=max_bytes, etag=etag, last_modified=last_modified
            )
    except TimeoutError:
        raise FeedError(f"no complete response within {timeout:g} s") from None
    except httpx.TimeoutException:
        raise FeedError(f"no complete response within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise FeedError(_describe_http_error(exc)) from exc


async def _fetch(
    url: str,
    *,
    client: httpx.AsyncClient,
    max_bytes: int,
    etag: str | None,
    last_modified: str | None,
) -> Fetched:
    conditional = {}
    if etag:
        conditional["If-None-Match"] = etag
    if last_modified:
        conditional["If-Modified-Since"] = last_modified
    current = check_url(url)
    permanent = True
    for _hop in range(MAX_REDIRECTS + 1):
        request = client.build_request("GET", current, headers=conditional)
        response = await client.send(request, stream=True)
        try:
            status = response.status_code
            if status in REDIRECT_STATUSES:
                location = response.headers.get("location")
                if not location:
                    raise FeedError(f"HTTP {status} redirect without a Location header")
                permanent = permanent and status in PERMANENT_REDIRECTS
                await _drain(response)
                try:
                    current = check_url(urljoin(current, location.strip()))
                except BlockedAddressError as exc:
                    raise BlockedAddressError(f"redirected to a refused URL: {exc}") from None
                continue
            moved_to = current if permanent and current != url else None
            if status == 304:
                # Reading the (empty) body ends the exchange cleanly, so the
                # keep-alive connection goes back to the pool for the next feed.
                await _drain(response)
                return Fetched(status="not_modified", url=current, moved_to=moved_to)
            if 200 <= status < 300:
                body = await _read_capped(response, max_bytes)
                headers = {name.lower(): value for name, value in response.headers.items()}
                return Fetched(
                    status="ok",
                    url=current,
                    moved_to=moved_to,
                    body=body,
                    headers=headers,
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                )
            await _drain(response)
            raise _status_error(status, response.headers)
        finally:
            await response.aclose()
    raise FeedError(f"more than {MAX_REDIRECTS} redirects")


#: Bodies of redirects and error pages up to this size are read (and discarded) so
#: the connection can be reused; a larger one is left and its connection closed.
DRAIN_BYTES = 64 * 1024


async def _drain(response: httpx.Response) -> None:
    declared = response.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > DRAIN_BYTES):
        return
    total = 0
    async for chunk in response.aiter_raw():
        total += len(chunk)
        if total > DRAIN_BYTES:
            return


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FeedError(
            f"the feed is larger than the {_size(max_bytes)} limit ({_size(int(declared))})"
        )
    chunks: list[bytes] = []
    total = 0
    # aiter_bytes yields *decoded* bytes, so a small gzip that inflates to gigabytes
    # is stopped at the cap as well.
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise FeedError(f"the feed is larger than the {_size(max_bytes)} limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _status_error(status: int, headers: httpx.Headers) -> FeedError:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "response"
    if status == 410:
        return FeedGone(f"HTTP 410 {phrase}: the feed was removed by its publisher")
    if status in (429, 503):
        retry_after = parse_retry_after(headers.get("retry-after"))
        suffix = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        return FeedError(f"HTTP {status} {phrase}{suffix}", retry_after=retry_after)
    return FeedError(f"HTTP {status} {phrase}")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def _describe_http_error(exc: httpx.HTTPError) -> str:
    detail = str(exc) or exc.__class__.__name__
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {detail}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server broke the HTTP exchange: {detail}"
    if isinstance(exc, httpx.DecodingError):
        return f"the response could not be decoded: {detail}"
    return f"{exc.__class__.__name__}: {detail}"


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):.1f} MB"
    return f"{count / 1024:.0f} KB"


# -- parsing ----------------------------------------------------------------------------------


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
    body, content_type = _prepare_encoding(body, headers.get("content-type", ""))
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
    return ParsedFeed(
        title=clean_title(channel.get("title")),
        link=_http_url(channel.get("link"), base=url),
        version=version,
        entries=entries,
        problem=problem,
        skipped=skipped,
    )


def _entry(raw: Mapping, *, feed_url: str, zone: ZoneInfo) -> FeedEntry | None:
    link = _http_url(raw.get("link"), base=_base(raw, "link", feed_url))
    guid = (raw.get("id") or "").strip() or None
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
    value = value.strip()
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


# -- bytes before parsing ---------------------------------------------------------------------

_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)["']?""", re.I)
_XML_DECL_ENCODING = re.compile(rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])([\w.:-]+)(["'])""", re.I)
#: Labels that mean Korean Wansung; read them as CP949 (Unified Hangul Code), their
#: superset, so that syllables outside KS X 1001 (e.g. "똠", "햏") survive.
KOREAN_LABELS = frozenset(
    {
        "euc-kr",
        "euc_kr",
        "euckr",
        "ks_c_5601-1987",
        "ksc5601",
        "cp949",
        "x-windows-949",
        "windows-949",
        "uhc",
    }
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _prepare_encoding(body: bytes, content_type: str) -> tuple[bytes, str]:
    """Bytes and Content-Type to hand to feedparser, with the charset made explicit when needed."""
    declared = _CHARSET.search(content_type)
    http_charset = declared.group(1).lower() if declared else None
    for bom, codec in _BOMS:
        if body.startswith(bom):
            # A byte order mark is authoritative (XML 1.0 Appendix F); re-encode as
            # UTF-8 so that the DOCTYPE check and feedparser see ASCII-compatible bytes.
            return _as_utf8(body.decode(codec, errors="replace"), content_type)
    if http_charset and http_charset.startswith(("utf-16", "utf-32")):
        try:
            return _as_utf8(body.decode(http_charset), content_type)
        except (UnicodeDecodeError, LookupError):
            pass
    if http_charset in KOREAN_LABELS:
        content_type = _CHARSET.sub("charset=cp949", content_type)
    xml_match = _XML_DECL_ENCODING.match(body[:200])
    xml_charset = xml_match.group(2).decode("ascii").lower() if xml_match else None
    if xml_charset in KOREAN_LABELS:
        body = _XML_DECL_ENCODING.sub(rb"\g<1>cp949\g<3>", body, count=1)
    if not http_charset and not xml_charset and not _is_utf8(body):
        try:
            body.decode("cp949")
        except UnicodeDecodeError:
            pass
        else:
            content_type = _with_charset(content_type, "cp949")
    return body, content_type


def _as_utf8(text: str, content_type: str) -> tuple[bytes, str]:
    text = text.lstrip("\ufeff")
    data = text.encode("utf-8")
    data = _XML_DECL_ENCODING.sub(rb"\g<1>utf-8\g<3>", data, count=1)
    if _CHARSET.search(content_type):
        content_type = _CHARSET.sub("charset=utf-8", content_type)
    else:
        content_type = _with_charset(content_type, "utf-8")
    return data, content_type


def _with_charset(content_type: str, charset: str) -> str:
    base = content_type.split(";")[0].strip() or "application/xml"
    return f"{base}; charset={charset}"


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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

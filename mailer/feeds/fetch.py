"""Fetch a feed over HTTP (httpx): conditional GET, one deadline, a size cap, redirects through the SSRF guard.

Conditional GET (If-None-Match / If-Modified-Since, RFC 9110 §13), one deadline for
the whole exchange including redirects and the body, a size cap on the decoded
body (so a gzip bomb stops at the cap too), redirects followed by hand so that
each hop is checked by the SSRF guard, and the status codes that matter to a feed
reader: 301/308 move the feed, 410 removes it, 429/503 carry Retry-After
(RFC 9110 §10.2.3). The bytes are parsed elsewhere (``parse``), off the event loop.
"""

from __future__ import annotations

import asyncio
import email.utils
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Literal
from urllib.parse import urljoin

import httpx

from mailer.config import FeedSettings
from mailer.errors import BlockedAddressError, FeedError, FeedGone
from mailer.feeds.netguard import AddressPolicy, Resolver, check_url, system_resolver
from mailer.feeds.transport import GuardedBackend, GuardedTransport

#: Redirect hops followed before giving up (browsers allow 20; feeds need few).
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, "
    "application/json;q=0.8, */*;q=0.5"
)


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
    backend = GuardedBackend(AddressPolicy.from_settings(settings), resolver=resolver)
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
    # The URL as fetched (normalised: 0177.0.0.1 is 127.0.0.1); a feed stored in another
    # spelling before normalisation existed has not "moved" for that alone.
    start = current = check_url(url)
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
                    # Servers do send raw spaces in Location; browsers encode them.
                    target = urljoin(current, location.strip().replace(" ", "%20"))
                    current = check_url(target)
                except BlockedAddressError as exc:
                    raise BlockedAddressError(f"redirected to a refused URL: {exc}") from None
                continue
            moved_to = current if permanent and current != start else None
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

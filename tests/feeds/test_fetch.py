"""Fetching feeds over real loopback HTTP: conditional GET, deadlines, size cap, redirects, SSRF guard."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ipaddress
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from mailer.config import FeedSettings
from mailer.errors import BlockedAddressError, FeedError, FeedGone
from mailer.feeds.fetch import fetch_feed, make_client, parse_retry_after
from mailer.feeds.netguard import refusal
from tests.support.feed_server import FeedServer

BODY = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


async def fetch(url, *, settings=None, resolver=None, **kw):
    settings = settings or FeedSettings(allow_private=True, timeout=5)
    options = {"resolver": resolver} if resolver else {}
    async with make_client(settings, **options) as client:
        kw.setdefault("timeout", settings.timeout)
        kw.setdefault("max_bytes", settings.max_bytes)
        return await fetch_feed(url, client=client, **kw)


async def test_conditional_get_with_etag(feed_server):
    url = feed_server.add("/rss", BODY)
    first = await fetch(url)
    assert first.status == "ok" and first.body == BODY and first.etag
    second = await fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert second.status == "not_modified" and second.body == b""
    sent = feed_server.requests[-1].headers
    assert sent["if-none-match"] == first.etag
    assert sent["if-modified-since"] == first.last_modified
    assert "mailer" in sent["user-agent"]


async def test_conditional_get_with_last_modified_only(feed_server):
    url = feed_server.add("/rss", BODY, etag=False)
    first = await fetch(url)
    assert first.etag is None and first.last_modified
    assert (await fetch(url, last_modified=first.last_modified)).status == "not_modified"
    feed_server.add("/rss", BODY + b" ", etag=False)  # changed, later Last-Modified
    assert (await fetch(url, last_modified=first.last_modified)).status == "ok"


async def test_a_server_that_never_answers_times_out(feed_server):
    url = feed_server.add("/slow", BODY, delay=10)
    with pytest.raises(FeedError, match=r"no complete response within 0.5 s"):
        await fetch(url, timeout=0.5)


async def test_the_deadline_covers_a_body_that_drips_in(feed_server):
    url = feed_server.add("/drip", BODY * 20, drip=0.05, chunk_size=8)
    with pytest.raises(FeedError, match=r"no complete response within 0.5 s"):
        await fetch(url, timeout=0.5)


async def test_a_feed_over_the_size_cap_is_refused(feed_server):
    url = feed_server.add("/big", b"x" * 5000)
    with pytest.raises(FeedError, match=r"larger than the 1 KB limit"):
        await fetch(url, max_bytes=1024)


async def test_the_size_cap_applies_to_the_decompressed_body(feed_server):
    bomb = gzip.compress(b"\0" * (4 * 1024 * 1024))
    assert len(bomb) < 10_000
    url = feed_server.add("/gzip", bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(FeedError, match=r"larger than the 1.0 MB limit"):
        await fetch(url, max_bytes=1024 * 1024)


async def test_permanent_redirects_report_the_new_address(feed_server):
    final = feed_server.add("/new", BODY)
    feed_server.redirect("/old", "/middle", status=301)
    feed_server.redirect("/middle", "/new", status=308)
    fetched = await fetch(feed_server.url("/old"))
    assert fetched.status == "ok" and fetched.url == final and fetched.moved_to == final


@pytest.mark.parametrize("statuses", [(302,), (307,), (301, 302), (302, 301)])
async def test_a_temporary_hop_means_the_feed_did_not_move(feed_server, statuses):
    feed_server.add("/end", BODY)
    for index, status in enumerate(statuses):
        target = f"/hop{index + 1}" if index + 1 < len(statuses) else "/end"
        feed_server.redirect(f"/hop{index}", target, status=status)
    fetched = await fetch(feed_server.url("/hop0"))
    assert fetched.status == "ok" and fetched.moved_to is None


async def test_redirect_loops_and_bad_redirects_are_errors(feed_server):
    feed_server.redirect("/a", "/b")
    feed_server.redirect("/b", "/a")
    with pytest.raises(FeedError, match="more than 5 redirects"):
        await fetch(feed_server.url("/a"))
    feed_server.add("/nowhere", b"", status=302, etag=False, last_modified=False)
    with pytest.raises(FeedError, match="without a Location"):
        await fetch(feed_server.url("/nowhere"))
    feed_server.redirect("/file", "file:///etc/passwd")
    with pytest.raises(BlockedAddressError, match="only http and https"):
        await fetch(feed_server.url("/file"))


async def test_gone_is_its_own_error(feed_server):
    feed_server.set_status("/gone", 410)
    with pytest.raises(FeedGone, match="HTTP 410 Gone"):
        await fetch(feed_server.url("/gone"))


async def test_429_and_503_carry_retry_after(feed_server):
    feed_server.set_status("/busy", 429, {"Retry-After": "120"})
    with pytest.raises(FeedError) as caught:
        await fetch(feed_server.url("/busy"))
    assert caught.value.retry_after == 120
    assert str(caught.value) == "HTTP 429 Too Many Requests; retry after 120 s"
    later = datetime.now(UTC) + timedelta(hours=2)
    feed_server.set_status("/down", 503, {"Retry-After": format_datetime(later, usegmt=True)})
    with pytest.raises(FeedError) as caught:
        await fetch(feed_server.url("/down"))
    assert 7000 < caught.value.retry_after <= 7200


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (500, "HTTP 500 Internal Server Error"),
        (404, "HTTP 404 Not Found"),
        (403, "HTTP 403 Forbidden"),
    ],
)
async def test_other_http_errors_are_named(feed_server, status, text):
    feed_server.set_status("/err", status)
    with pytest.raises(FeedError) as caught:
        await fetch(feed_server.url("/err"))
    assert str(caught.value) == text and caught.value.retry_after is None


async def test_a_closed_port_is_a_readable_error():
    server = FeedServer()
    url = server.url("/rss")
    server.close()
    with pytest.raises(FeedError, match="cannot connect"):
        await fetch(url)


async def test_a_stalled_read_is_a_timeout_of_the_guarded_transport(feed_server):
    # httpx's per-phase read timeout (0.3 s) ends this before the 30 s deadline: the
    # transport must hand httpcore's ReadTimeout on as httpx's, so it becomes a FeedError.
    url = feed_server.add("/slow", BODY, delay=10)
    settings = FeedSettings(allow_private=True, timeout=0.3)
    with pytest.raises(FeedError, match="no complete response"):
        await fetch(url, settings=settings, timeout=30)


@contextlib.asynccontextmanager
async def raw_http_server(reply: bytes):
    """A loopback server answering every request on a connection with ``reply``; counts connections."""
    connections = []
    handlers = []

    async def handle(reader, writer):
        connections.append(writer)
        handlers.append(asyncio.current_task())
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/rss", connections
    finally:
        server.close()
        for writer in connections:
            writer.close()
        # Closing a connection ends its handler's read; wait for them all to finish.
        await asyncio.gather(*handlers)
        await server.wait_closed()


async def test_keep_alive_connections_are_reused():
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
    settings = FeedSettings(allow_private=True, timeout=5)
    async with raw_http_server(reply) as (url, connections):
        async with make_client(settings) as client:
            for _ in range(3):
                fetched = await fetch_feed(url, client=client, timeout=5, max_bytes=10_000)
                assert fetched.body == BODY
        assert len(connections) == 1


async def test_a_broken_http_exchange_is_a_readable_error():
    async with raw_http_server(b"this is not HTTP\r\n\r\n") as (url, _connections):
        with pytest.raises(FeedError, match="the server broke the HTTP exchange"):
            await fetch(url)


def test_retry_after_formats():
    now = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    assert parse_retry_after("30", now=now) == 30
    assert parse_retry_after("Mon, 07 Dec 2026 00:10:00 GMT", now=now) == 600
    assert parse_retry_after("Sun, 06 Dec 2026 00:10:00 GMT", now=now) == 0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None


# -- SSRF guard ---------------------------------------------------------------------------------

GUARDED = FeedSettings(allow_private=False, timeout=5)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "::ffff:127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.10",
        "169.254.169.254",
        "fe80::1",
        "fc00::1",
        "100.64.0.1",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "239.255.255.250",
        "ff02::1",
        "240.0.0.1",
        "255.255.255.255",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
        "192.0.2.1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "211.234.10.1"])
def test_public_addresses_pass(address):
    assert refusal(ipaddress.ip_address(address)) is None


def test_an_allowed_network_is_an_exception():
    allowed = [ipaddress.ip_network("10.1.2.0/24")]
    assert refusal(ipaddress.ip_address("10.1.2.3"), allowed=allowed) is None
    assert refusal(ipaddress.ip_address("10.1.3.3"), allowed=allowed) is not None


async def test_loopback_feed_is_refused_before_connecting(feed_server):
    url = feed_server.add("/rss", BODY)
    with pytest.raises(BlockedAddressError, match=r"127\.0\.0\.1: a loopback address"):
        await fetch(url, settings=GUARDED)
    assert feed_server.requests == []


async def test_a_name_resolving_to_loopback_is_refused(feed_server):
    feed_server.add("/rss", BODY)
    with pytest.raises(
        BlockedAddressError, match=r"localhost \(127\.0\.0\.1\): a loopback address"
    ):
        await fetch(f"http://localhost:{feed_server.port}/rss", settings=GUARDED)
    assert feed_server.requests == []


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://feeds.example.org/rss", "gopher://x/", "http:///rss"]
)
async def test_only_http_and_https_urls(url):
    with pytest.raises(BlockedAddressError):
        await fetch(url, settings=GUARDED)


@pytest.fixture
def outside_server():
    """A feed server on 127.0.0.2, standing in for a public host via allow_networks."""
    server = FeedServer(host="127.0.0.2")
    try:
        yield server
    finally:
        server.close()


def public_dns(mapping):
    """A resolver for made-up public names (the internet is mocked; the sockets are real)."""
    calls = []

    async def resolve(host, port):
        calls.append(host)
        return list(mapping[host])

    resolve.calls = calls
    return resolve


ALLOW_OUTSIDE = FeedSettings(allow_private=False, allow_networks=["127.0.0.2/32"], timeout=5)


async def test_an_allowed_host_is_fetched_by_name(outside_server):
    outside_server.add("/rss", BODY)
    resolver = public_dns({"news.example.org": ["127.0.0.2"]})
    fetched = await fetch(
        f"http://news.example.org:{outside_server.port}/rss",
        settings=ALLOW_OUTSIDE,
        resolver=resolver,
    )
    assert fetched.status == "ok"
    assert outside_server.requests[-1].headers["host"] == f"news.example.org:{outside_server.port}"


async def test_a_redirect_to_loopback_is_refused(outside_server, feed_server):
    feed_server.add("/admin", b"internal secrets")
    outside_server.redirect("/rss", feed_server.url("/admin"))
    resolver = public_dns({"news.example.org": ["127.0.0.2"]})
    with pytest.raises(BlockedAddressError, match="loopback"):
        await fetch(
            f"http://news.example.org:{outside_server.port}/rss",
            settings=ALLOW_OUTSIDE,
            resolver=resolver,
        )
    assert len(outside_server.requests) == 1
    assert feed_server.requests == []


async def test_a_redirect_to_a_name_resolving_to_loopback_is_refused(outside_server, feed_server):
    feed_server.add("/admin", b"internal secrets")
    outside_server.redirect("/rss", f"http://intranet.example.org:{feed_server.port}/admin")
    resolver = public_dns(
        {"news.example.org": ["127.0.0.2"], "intranet.example.org": ["127.0.0.1"]}
    )
    with pytest.raises(BlockedAddressError, match=r"intranet\.example\.org \(127\.0\.0\.1\)"):
        await fetch(
            f"http://news.example.org:{outside_server.port}/rss",
            settings=ALLOW_OUTSIDE,
            resolver=resolver,
        )
    assert feed_server.requests == []


async def test_one_private_address_among_public_ones_refuses_the_host(outside_server):
    outside_server.add("/rss", BODY)
    resolver = public_dns({"news.example.org": ["127.0.0.2", "10.0.0.5"]})
    with pytest.raises(BlockedAddressError, match="private"):
        await fetch(
            f"http://news.example.org:{outside_server.port}/rss",
            settings=ALLOW_OUTSIDE,
            resolver=resolver,
        )
    assert outside_server.requests == []


async def test_the_checked_address_is_the_one_connected_to(outside_server, feed_server):
    # DNS rebinding: a second lookup would answer loopback. The name is resolved once
    # per connection and the connection goes to the address that was checked.
    outside_server.add("/rss", BODY)
    feed_server.add("/rss", b"internal")
    answers = iter([["127.0.0.2"], ["127.0.0.1"], ["127.0.0.1"]])
    calls = []

    async def rebinding(host, port):
        calls.append(host)
        return next(answers)

    url = f"http://news.example.org:{outside_server.port}/rss"
    fetched = await fetch(url, settings=ALLOW_OUTSIDE, resolver=rebinding)
    assert fetched.body == BODY
    assert calls == ["news.example.org"]
    assert feed_server.requests == []

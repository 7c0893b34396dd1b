"""SSRF guard for feed fetches: only public addresses, checked after DNS and used for the connection.

Feed URLs are staff input, and a feed can redirect anywhere, so every connection
the fetcher opens goes through :class:`GuardedBackend`: it resolves the host name
itself, refuses the connection if *any* address is loopback, private, link-local,
multicast, reserved or otherwise not globally routable (unless allowed by
settings), and then connects to the address it checked. Because the address that
was checked is the address that is used, a DNS answer that changes between check
and connect (DNS rebinding) cannot slip a private address in. TLS still verifies
the certificate against the host *name* (httpcore passes it as SNI / server_hostname).
"""

from __future__ import annotations

import asyncio
import ipaddress
import select
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from urllib.parse import urlsplit

import httpcore
import httpx

from mailer.errors import BlockedAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: host, port → the IP addresses (as text) the name resolves to.
Resolver = Callable[[str, int], Awaitable[list[str]]]

ALLOWED_SCHEMES = ("http", "https")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def check_url(url: str) -> str:
    """Refuse anything but an absolute http(s) URL with a host; returns the URL stripped."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        shown = parts.scheme or "(none)"
        raise BlockedAddressError(f"only http and https URLs can be fetched, not {shown}:")
    if not parts.hostname:
        raise BlockedAddressError("the URL has no host name")
    try:
        parts.port  # noqa: B018 — raises on a malformed port
    except ValueError:
        raise BlockedAddressError("the URL has an invalid port") from None
    return url


def refusal(address: IPAddress, *, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Why ``address`` must not be fetched from, or None when it is a public address."""
    if any(address in network for network in allowed):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None
        )
        if embedded is None and address.sixtofour is not None:
            embedded = address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None:
            return refusal(embedded, allowed=allowed)
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a public address"
    return None


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Networks from settings ("10.1.2.0/24", "192.0.2.7"); raises ValueError on a bad one."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the operating system (getaddrinfo), without blocking the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        if address not in seen:
            seen.append(address)
    return seen


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves, checks and connects to checked addresses only."""

    def __init__(
        self,
        *,
        allow_private: bool,
        allowed_networks: Sequence[IPNetwork] = (),
        resolver: Resolver = system_resolver,
    ) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private
        self._allowed = tuple(allowed_networks)
        self._resolver = resolver

    async def vetted_addresses(self, host: str, port: int) -> list[str]:
        """The addresses ``host`` resolves to, or BlockedAddressError if any is refused."""
        try:
            addresses = [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            addresses = []
        try:
            addresses = addresses or await self._resolver(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        if self._allow_private:
            return addresses
        for text in addresses:
            reason = refusal(ipaddress.ip_address(text), allowed=self._allowed)
            if reason is not None:
                # One bad address refuses the host: trying only the "good" ones would
                # still let a hostile DNS answer steer which one is used.
                shown = host if host == text else f"{host} ({text})"
                raise BlockedAddressError(
                    f"refused to fetch from {shown}: {reason} "
                    "(set MAILER_FEEDS__ALLOW_PRIVATE=true or feeds.allow_networks to allow it)"
                )
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.vetted_addresses(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
            else:
                return _CachedInfoStream(stream)
        assert error is not None
        raise error

    async def connect_unix_socket(self, *args, **kwargs) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError("unix sockets are never used for feeds")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CachedInfoStream(httpcore.AsyncNetworkStream):
    """A connection whose fixed facts (socket, addresses, TLS object) are looked up once.

    httpcore asks every pooled connection for its socket each time it hands out a
    request, and anyio builds a table of all socket attributes, peer address
    included, to answer; with a dozen connections that was most of the cost of a
    304 poll. Readability is still checked live.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._info: dict[str, object] = {}

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _CachedInfoStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> object:
        if info == "is_readable":
            return _readable(self.get_extra_info("socket"))
        if info not in self._info:
            self._info[info] = self._inner.get_extra_info(info)
        return self._info[info]


def _readable(sock: object) -> bool:
    """Whether recv() would return at once; a closed socket counts (its next read is b"")."""
    fileno = getattr(sock, "fileno", None)
    descriptor = fileno() if fileno else -1
    if descriptor < 0:
        return True
    poller = select.poll()
    poller.register(descriptor, select.POLLIN)
    return bool(poller.poll(0))


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool built on :class:`GuardedBackend`.

    httpx has no public switch for the network backend, so the pool it builds is
    replaced by an identical one that uses ours; request/response mapping and
    exception translation stay httpx's own.
    """

    def __init__(
        self,
        *,
        backend: GuardedBackend,
        limits: httpx.Limits,
        verify: bool = True,
    ) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        pool = self._pool
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=pool._ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )

"""Connections for feed fetches that obey the SSRF policy: an httpx transport on a guarded httpcore backend.

Every connection the fetcher opens goes through :class:`GuardedBackend`: it resolves
the host name itself, refuses the connection if *any* address is refused by the
:class:`~mailer.feeds.netguard.AddressPolicy`, and then connects to the address it
checked. Because the address that was checked is the address that is used, a DNS
answer that changes between check and connect (DNS rebinding) cannot slip a
private address in. TLS still verifies the certificate against the host *name*
(httpcore passes it as SNI / server_hostname).

Only public APIs are used: httpx has no switch for the network backend, so
:class:`GuardedTransport` is an ``httpx.AsyncBaseTransport`` of its own around an
``httpcore.AsyncConnectionPool`` built with ``network_backend=`` (httpcore's
documented extension point), instead of swapping httpx's private ``_pool``.
"""

from __future__ import annotations

import select
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import contextmanager

import httpcore
import httpx

from mailer.errors import BlockedAddressError
from mailer.feeds.netguard import AddressPolicy, Resolver, literal_address, system_resolver


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves, checks and connects to checked addresses only."""

    def __init__(self, policy: AddressPolicy, /, *, resolver: Resolver = system_resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._policy = policy
        self._resolver = resolver

    async def vetted_addresses(self, host: str, port: int) -> list[str]:
        """The addresses ``host`` resolves to, or BlockedAddressError if any is refused."""
        literal = literal_address(host)
        try:
            addresses = [str(literal)] if literal else await self._resolver(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        if self._policy.allow_private:
            return addresses
        for text in addresses:
            reason = self._policy.refusal(literal_address(text))
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


#: httpcore's errors and the httpx errors they stand for, most specific first (the
#: same correspondence httpx's own transport applies), so callers see httpx errors only.
_HTTPX_ERROR_FOR = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


_HTTPCORE_ERRORS = tuple(core for core, _ in _HTTPX_ERROR_FOR)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except _HTTPCORE_ERRORS as exc:
        mapped = next(error for core, error in _HTTPX_ERROR_FOR if isinstance(exc, core))
        raise mapped(str(exc)) from exc


class _ResponseBody(httpx.AsyncByteStream):
    """The body of an httpcore response as httpx reads it, with httpcore errors translated."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with _httpx_errors():
                await close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An HTTP/1.1 connection pool on :class:`GuardedBackend`, as an httpx transport."""

    def __init__(
        self, *, backend: GuardedBackend, limits: httpx.Limits, verify: bool = True
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            # trust_env=False: the CA bundle is certifi's, whatever SSL_CERT_FILE says,
            # as with the httpx client (which is built with trust_env=False too).
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )

    async def __aenter__(self) -> GuardedTransport:
        await self._pool.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        with _httpx_errors():
            await self._pool.__aexit__(*exc_info)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            # The client's timeouts travel here, as with httpx's own transport.
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseBody(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()

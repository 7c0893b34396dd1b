"""The one place that decides a request's client address: the peer, or what a trusted proxy says it saw.

A visitor can write any ``X-Forwarded-For`` or ``Forwarded`` header, so those headers
count only when the TCP peer is one of ``web.trusted_proxies`` (issue 11 item 3: a
forged header once escaped the signup rate limit and wrote a false address into the
consent ledger). Behind trusted proxies the client is the right-most address that is
not itself a trusted proxy: every proxy appends the peer it saw, and only the entries
our own proxies appended can be believed.

Only one header is read, the one the operator's proxy sets (``web.proxy_header``): a
proxy that appends to ``X-Forwarded-For`` passes a visitor's ``Forwarded`` header on
untouched, so reading both would let the visitor choose.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Literal

from starlette.types import ASGIApp, Receive, Scope, Send

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
ProxyHeader = Literal["x-forwarded-for", "forwarded"]


def parse_address(text: str) -> Address | None:
    """An IP address from a header entry (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``"::1"``)."""
    text = text.strip().strip('"').strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
        return address.ipv4_mapped
    return address


def forwarded_for_hops(values: Iterable[str]) -> list[str]:
    """The ``for=`` values of RFC 7239 ``Forwarded`` headers, first hop first (others skipped)."""
    hops = []
    for value in values:
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, item = pair.partition("=")
                if name.strip().lower() == "for":
                    hops.append(item.strip())
    return hops


class TrustedProxies:
    """``web.trusted_proxies`` (addresses and networks) and the one header they set."""

    def __init__(self, networks: Sequence[str], *, header: ProxyHeader) -> None:
        self.networks = [ipaddress.ip_network(item.strip(), strict=False) for item in networks]
        self.header = header

    def trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def hops(self, values: Sequence[str]) -> list[str]:
        """The addresses the proxies recorded, first hop (the visitor's claim) first."""
        if self.header == "forwarded":
            return forwarded_for_hops(values)
        return [item for value in values for item in value.split(",") if item.strip()]

    def client_address(self, peer: str | None, values: Sequence[str]) -> str | None:
        """The client of a request from ``peer`` carrying ``values`` of the configured header."""
        if peer is None:
            return None
        nearest = parse_address(peer)
        if nearest is None or not self.trusts(nearest):
            return str(nearest) if nearest is not None else peer
        for hop in reversed(self.hops(values)):
            address = parse_address(hop)
            if address is None:
                # "unknown", an obfuscated "_hidden" or garbage: nothing further left can be
                # believed, so the last proxy we trust is as near to the client as we get.
                break
            if not self.trusts(address):
                return str(address)
            nearest = address
        return str(nearest)


class ClientAddressMiddleware:
    """Pure ASGI middleware: puts the resolved client address into ``scope["client"]``.

    The scope is changed in place, as uvicorn's own proxy-header middleware does, so the
    access log, ``request.client`` and therefore the rate limits and the consent ledger
    (``pages.client_ip``) all see the same address. uvicorn's own handling of these
    headers is switched off (``server.uvicorn_config``): it trusts 127.0.0.1 by default.
    """

    def __init__(self, app: ASGIApp, *, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies
        self._header = proxies.header.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.proxies.networks:
            client = scope.get("client")
            peer = client[0] if client else None
            values = [
                value.decode("latin-1")
                for name, value in scope.get("headers", ())
                if name.lower() == self._header
            ]
            address = self.proxies.client_address(peer, values)
            if address is not None and address != peer:
                scope["client"] = (address, 0)
        await self.app(scope, receive, send)

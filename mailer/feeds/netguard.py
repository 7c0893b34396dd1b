"""SSRF policy for feed fetches: which URLs and addresses a feed may be fetched from.

Feed URLs are staff input, and a feed can redirect anywhere. Only absolute http(s)
URLs are fetched, and only from addresses that are globally routable: loopback,
private, link-local, multicast, reserved and other non-public addresses are
refused unless the settings allow them. This module decides; ``transport`` applies
the decision to every connection, after DNS, to the very address it checked (so
DNS rebinding cannot slip a private address in), and the feed catalog applies it
to a literal address when a feed is registered. URLs are first brought to the one
form that is fetched (``urlnorm``: 0177.0.0.1 is 127.0.0.1 here too). Standard
library and ``idna`` only, so that validating a URL never loads the HTTP client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailer.feeds.urlnorm import normalise_url

if TYPE_CHECKING:
    from mailer.config import FeedSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: host, port → the IP addresses (as text) the name resolves to.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def check_url(url: str) -> str:
    """The URL in the form that is fetched; BlockedAddressError unless it is absolute http(s)."""
    return normalise_url(url)


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


def literal_address(host: str) -> IPAddress | None:
    """The IP address ``host`` spells out ("192.0.2.7", "[::1]"), or None for a host name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which addresses feeds may be fetched from, as the settings allow."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: FeedSettings, /) -> AddressPolicy:
        return cls(
            allow_private=settings.allow_private,
            allowed_networks=parse_networks(settings.allow_networks),
        )

    def refusal(self, address: IPAddress, /) -> str | None:
        """Why ``address`` must not be fetched from, or None when the settings allow it."""
        if self.allow_private:
            return None
        return refusal(address, allowed=self.allowed_networks)

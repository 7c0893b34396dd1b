"""Normalise a feed URL to the one form that is fetched, or refuse it with a reason staff can act on.

A URL is staff input (``feeds add``, ``config/feeds.toml``) and, on a redirect, a
stranger's. The SSRF policy (``netguard``) can only judge an address it recognises,
and resolvers recognise more than ``ipaddress`` does: ``inet_aton`` reads
``http://0177.0.0.1/``, ``http://0x7f000001/``, ``http://2130706433/`` and
``http://127.1/`` as 127.0.0.1 (issue 11). So every host that ends in a number is
parsed the way the WHATWG URL standard (§3.5 "IPv4 parser") and browsers parse it and
written back as dotted decimal; a host name is lower-cased and IDNA-encoded
(UTS #46), so ``한국.kr`` is stored as ``xn--3e0b707e.kr`` and :func:`readable_url`
shows it back in Hangul. Refused: anything but http(s), no host, user names and
passwords (they would be sent to the server and shown in every list), spaces,
control or invisible characters, invalid ports and URLs over 2000 characters.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import idna

from mailer.errors import BlockedAddressError
from mailer.unsafe_text import find_unsafe, unsafe_problem

ALLOWED_SCHEMES = ("http", "https")
#: Longest feed URL the feeds and stories tables hold.
MAX_URL_LENGTH = 2000
#: One DNS label of a host name (RFC 1123), with the underscore some real hosts use.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_DECIMAL = re.compile(r"[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]*")


def normalise_url(url: str, /) -> str:
    """The URL as it is fetched and stored; BlockedAddressError says why it never can be."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise BlockedAddressError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    problem = unsafe_problem(url)
    if problem:
        raise BlockedAddressError(f"the URL {problem}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise BlockedAddressError(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        if not parts.scheme:
            raise BlockedAddressError("the URL must start with http:// or https://")
        raise BlockedAddressError(f"only http and https URLs can be fetched, not {parts.scheme}:")
    if any(char.isspace() for char in url):
        raise BlockedAddressError("the URL contains spaces (write a space in a path as %20)")
    if "@" in parts.netloc:
        # Never echoed: it may be a password.
        raise BlockedAddressError(
            "the URL carries a user name or password; feeds are fetched without them"
        )
    try:
        port = parts.port
    except ValueError:
        raise BlockedAddressError("the URL has an invalid port") from None
    host = _normal_host(parts)
    netloc = host if port is None else f"{host}:{port}"
    normal = urlunsplit(parts._replace(scheme=scheme, netloc=netloc))
    if len(normal) > MAX_URL_LENGTH:  # punycode can lengthen a host
        raise BlockedAddressError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    return normal


def readable_url(url: str, /) -> str:
    """The URL with an IDNA-encoded host shown in its own script (for staff to read)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if "xn--" not in host:
        return url
    try:
        shown = idna.decode(host)
    except idna.IDNAError:
        return url
    netloc = shown if parts.port is None else f"{shown}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _normal_host(parts: SplitResult) -> str:
    if "[" in parts.netloc:
        try:
            address = ipaddress.IPv6Address(parts.hostname or "")
        except ValueError:
            raise BlockedAddressError(f"[{parts.hostname}] is not a valid IPv6 address") from None
        return f"[{address.compressed}]"
    raw = parts.hostname or ""
    host = unquote(raw).removesuffix(".")
    if not host:
        raise BlockedAddressError("the URL has no host name")
    if find_unsafe(host) is not None or any(char.isspace() for char in host):
        raise BlockedAddressError(f"{raw} is not a valid host name")
    if _ends_in_number(host):
        return str(_ipv4(host))
    return _host_name(host)


def _ends_in_number(host: str) -> bool:
    """WHATWG's "ends in a number": then the host is an IPv4 address or invalid."""
    last = host.rsplit(".", 1)[-1]
    return bool(_DECIMAL.fullmatch(last) or _HEX.fullmatch(last))


def _ipv4(host: str) -> ipaddress.IPv4Address:
    """``host`` read as inet_aton reads it: 1 to 4 parts, each decimal, 0-octal or 0x-hex."""
    invalid = BlockedAddressError(f"{host} is not a valid IPv4 address")
    labels = host.split(".")
    if len(labels) > 4:
        raise invalid
    numbers = []
    for label in labels:
        if _HEX.fullmatch(label):
            numbers.append(int(label[2:] or "0", 16))
        elif _DECIMAL.fullmatch(label):
            if len(label) > 1 and label.startswith("0"):
                if not set(label) <= set("01234567"):
                    raise invalid
                numbers.append(int(label, 8))
            else:
                numbers.append(int(label))
        else:
            raise invalid
    *high, last = numbers
    if any(number > 255 for number in high) or last >= 256 ** (5 - len(numbers)):
        raise invalid
    value = last + sum(number << (8 * (3 - index)) for index, number in enumerate(high))
    return ipaddress.IPv4Address(value)


def _host_name(host: str) -> str:
    if host.isascii():
        ascii_host = host.lower()
    else:
        try:
            ascii_host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise BlockedAddressError(f"{host} is not a valid host name") from None
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise BlockedAddressError(f"{host} is not a valid host name")
    if any(label.startswith("xn--") for label in labels):
        # An A-label must decode: httpx decodes it at fetch time, and a bad one
        # (``xn--zz``) would otherwise pass here and fail every poll with a traceback.
        try:
            idna.decode(ascii_host)
        except idna.IDNAError:
            raise BlockedAddressError(f"{host} is not a valid host name") from None
    return ascii_host

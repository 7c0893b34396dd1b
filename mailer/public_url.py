"""Where links in mail point: ``base_url`` when it is set, else the address ``mailer serve`` listens on.

Every link in every mail (confirm, unsubscribe, archive, calendar) starts with
``Settings.base_url``. Left unset, it follows ``host`` and ``port`` — the address
``mailer serve`` listens on — so ``MAILER_PORT=9000 make run`` mails links to :9000
(issue 15 item 1). A process that does not listen (``mailer worker``, ``mailer
scheduler``, one-shot commands) derives the same URL from the same two settings, so
every process of an installation agrees as long as they share ``MAILER_HOST`` and
``MAILER_PORT``; only ``serve --host/--port`` on the command line moves one
process's links alone, which :func:`listen_address_warnings` says at start-up.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # config imports this module; the type is for the checker only
    from mailer.config import Settings

#: Addresses that mean "every interface": no one reaches the server under that name.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})

#: The name a link gets for a server on every interface: it opens on this machine only.
THIS_MACHINE = "127.0.0.1"


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses; False for ``0.0.0.0``, ``::``, names, None."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen_url(host: str, port: int, /) -> str:
    """The ``http://host:port`` a browser opens to reach a server listening on ``host``:``port``."""
    name = host.strip().strip("[]")
    if name in WILDCARD_HOSTS:
        name = THIS_MACHINE
    if ":" in name:  # an IPv6 address goes in brackets (RFC 3986 §3.2.2)
        name = f"[{name}]"
    return f"http://{name}:{port}"


def reaches(base_url: str, /, *, host: str, port: int) -> bool:
    """Whether links under ``base_url`` lead to a server listening on ``host``:``port``.

    Loopback names are one machine (``localhost`` = ``127.0.0.1`` = ``[::1]``), and a
    server on every interface answers under any name; the port must be the same.
    """
    parts = urlsplit(base_url)
    try:
        link_port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    if parts.scheme != "http" or link_port != port:
        return False
    link_host = parts.hostname or ""
    listen_host = host.strip().strip("[]").lower()
    if listen_host in WILDCARD_HOSTS or link_host == listen_host:
        return True
    return is_loopback(link_host) and is_loopback(listen_host)


def listen_address_warnings(
    settings: Settings, /, *, host: str, port: int, other_processes: bool
) -> list[str]:
    """What ``mailer serve`` warns about once at start-up, listening on ``host``:``port``.

    ``settings`` are as configured (before :func:`serving_at`). In development a
    ``base_url`` set to another address is almost always a leftover (links in mail would
    open nothing); in production a public URL behind a reverse proxy is expected to
    differ, so nothing is said. A derived URL for a server on every interface opens on
    this machine only; and with ``other_processes`` (serve without its own scheduler or
    worker) mail is also made by processes that derive their links from ``MAILER_HOST``
    and ``MAILER_PORT``, not from this command line.
    """
    if not settings.base_url_derived:
        if settings.env == "development" and not reaches(settings.base_url, host=host, port=port):
            return [
                f"base_url {settings.base_url} (MAILER_BASE_URL) is not where this server "
                f"listens ({listen_url(host, port)}): links in mail point at {settings.base_url}. "
                "Leave base_url unset to follow MAILER_HOST and MAILER_PORT, or set it to this address"
            ]
        return []
    base_url = listen_url(host, port)
    warnings = []
    if host.strip().strip("[]") in WILDCARD_HOSTS:
        warnings.append(
            f"links in mail point at {base_url}, which opens on this machine only: serve "
            f"listens on every address ({host}); set MAILER_BASE_URL to the address others "
            "reach it under"
        )
    configured = settings.base_url  # what the other processes derive
    if other_processes and configured != base_url:
        warnings.append(
            f"links in mail made here point at {base_url}, but a separate `mailer worker` or "
            f"`mailer scheduler` uses {configured} (from MAILER_HOST and MAILER_PORT): give "
            "them the same MAILER_PORT, or set MAILER_BASE_URL"
        )
    return warnings


def serving_at(settings: Settings, host: str, port: int, /) -> Settings:
    """``settings`` for a server listening on ``host``:``port``: a derived base_url follows it.

    ``mailer serve --port 9000`` (or port 0, any free one) listens elsewhere than the
    settings say; its own links must lead to where it actually listens.
    """
    if not settings.base_url_derived:
        return settings
    moved = settings.model_copy(update={"host": host, "port": port})
    moved.base_url = listen_url(host, port)
    return moved

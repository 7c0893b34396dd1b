"""Refuse every network connection that would leave this machine, in tests and in their subprocesses.

``tests/conftest.py`` installs the guard in the test process and puts this folder on
``PYTHONPATH``, so the ``sitecustomize.py`` next to this file installs it at the start of
every Python subprocess a test runs (``mailer serve``, racers, probes) as well.

A refused attempt raises :class:`BlockedConnection` — an ``OSError``, as a firewall's
refusal would be, so code under test handles it like any network failure — whose message
names the host. The attempt is also recorded, in :data:`refused` and, when
``MAILER_TEST_NETWORK_LOG`` names a file, as one line there: the conftest fails the test
afterwards even where the code under test caught the error.

Loopback (127.0.0.0/8, ::1, ``localhost``, this machine's name) and Unix sockets are allowed. Host names
other than localhost are refused before they reach DNS. Connections made by C
libraries (libpq, Chromium) do not go through Python's socket module and are not seen.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import threading

ENV_LOG = "MAILER_TEST_NETWORK_LOG"
MESSAGE = "tests may not use the network beyond loopback"

#: What this process tried and was refused, oldest first.
refused: list[str] = []

_lock = threading.Lock()
_INET = (socket.AF_INET, socket.AF_INET6)
_HOSTNAME = socket.gethostname().lower()


class BlockedConnection(PermissionError):
    """A test (or a process it started) tried to reach a host outside this machine."""


def is_local(host: object) -> bool:
    """True for loopback addresses, ``localhost`` and the wildcard (which means this host)."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    name = str(host).strip("[]").split("%", 1)[0].lower()
    if name in ("", "localhost", _HOSTNAME) or name.endswith(".localhost"):
        return True  # this machine's own name too (smtplib's getfqdn() looks it up)
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a name: resolving it would ask DNS
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def is_address(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        ipaddress.ip_address(str(host).strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def refuse(action: str, host: object, port: object = None) -> BlockedConnection:
    where = f"{host}:{port}" if port is not None else f"{host}"
    message = f"{MESSAGE}: {action} {where} (pid {os.getpid()})"
    with _lock:
        refused.append(message)
    path = os.environ.get(ENV_LOG)
    if path:
        # One short O_APPEND write: lines of several processes never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (message + "\n").encode())
        finally:
            os.close(fd)
    return BlockedConnection(errno.EACCES, message)


def logged(path: str | os.PathLike[str]) -> list[str]:
    """The attempts recorded in the log file at ``path`` (by this and other processes)."""
    try:
        with open(path, encoding="utf-8") as log:
            return log.read().splitlines()
    except FileNotFoundError:
        return []


def forget() -> None:
    """Drop what was recorded so far (a test that provoked a refusal on purpose)."""
    with _lock:
        refused.clear()
    path = os.environ.get(ENV_LOG)
    if path and os.path.exists(path):
        os.truncate(path, 0)


def install() -> None:
    """Patch the socket module; installing twice is a no-op."""
    if getattr(socket.socket.connect, "_offline_guard", False):
        return
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_sendto = socket.socket.sendto
    real_getaddrinfo = socket.getaddrinfo
    real_gethostbyname = socket.gethostbyname
    real_gethostbyname_ex = socket.gethostbyname_ex

    def check(sock: socket.socket, address: object, action: str) -> None:
        if sock.family in _INET and isinstance(address, tuple) and not is_local(address[0]):
            raise refuse(action, address[0], address[1] if len(address) > 1 else None)

    def connect(self, address):
        check(self, address, "connect to")
        return real_connect(self, address)

    def connect_ex(self, address):
        check(self, address, "connect to")
        return real_connect_ex(self, address)

    def sendto(self, data, *args):
        check(self, args[-1] if args else None, "send to")
        return real_sendto(self, data, *args)

    def getaddrinfo(host, port, *args, **kwargs):
        if not is_local(host) and not is_address(host):
            raise refuse("resolve", host, port)
        return real_getaddrinfo(host, port, *args, **kwargs)

    def gethostbyname(host):
        if not is_local(host) and not is_address(host):
            raise refuse("resolve", host)
        return real_gethostbyname(host)

    def gethostbyname_ex(host):
        if not is_local(host) and not is_address(host):
            raise refuse("resolve", host)
        return real_gethostbyname_ex(host)

    for function in (connect, connect_ex, sendto, getaddrinfo, gethostbyname, gethostbyname_ex):
        function._offline_guard = True  # type: ignore[attr-defined]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = sendto  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex

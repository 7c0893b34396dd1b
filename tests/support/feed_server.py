"""Serve scripted feed resources over local HTTP: conditional GET, redirects, errors, stalls.

Typical use (the ``feed_server`` fixture does the close)::

    feeds = FeedServer()
    feeds.add("/rss", b"<rss>...</rss>")          # ETag + Last-Modified, 304 when unchanged
    feeds.redirect("/old", "/rss")                # 301 to the absolute URL of /rss
    feeds.set_status("/gone", 410)                # plain-text 410
    feeds.add("/slow", body, delay=5.0)           # stalls before the status line
    feeds.add("/drip", body, drip=0.2)            # headers at once, then the body slowly
    httpx.get(feeds.url("/rss"))
    assert feeds.requests[-1].method == "GET"
    feeds.close()
"""

from __future__ import annotations

import email.utils
import hashlib
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import urlsplit

__all__ = ["FeedServer", "RecordedRequest"]

DEFAULT_CONTENT_TYPE = "application/rss+xml; charset=utf-8"


class RecordedRequest(NamedTuple):
    """One request as received; header names are lower-cased for easy lookup."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class _Resource:
    body: bytes
    status: int
    content_type: str
    headers: dict[str, str]
    etag: str | None
    last_modified: float | None  # POSIX seconds, whole
    delay: float
    drip: float
    chunk_size: int
    # set_status() replaces the response without forgetting the registered body
    override: tuple[int, dict[str, str]] | None = field(default=None)


@dataclass
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0
    drip: float = 0.0
    chunk_size: int = 0


class FeedServer:
    """A ThreadingHTTPServer on 127.0.0.1 serving registered paths; starts on construction."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, _Resource] = {}
        self._requests: list[RecordedRequest] = []
        self._active: set[socket.socket] = set()
        self._last_modified = 0
        # Set at close(): wakes every delay/drip wait so handler threads finish promptly.
        self._closing = threading.Event()
        self._httpd = _HTTPServer((host, 0), _Handler, feed=self)
        self.host, self.port = self._httpd.server_address[:2]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            # A short poll keeps close() fast; serve_forever only notices shutdown per poll.
            kwargs={"poll_interval": 0.05},
            name=f"FeedServer:{self.port}",
            daemon=True,
        )
        self._thread.start()

    # -- setup -----------------------------------------------------------------------------

    def url(self, path: str) -> str:
        if not path.startswith("/"):
            path = "/" + path
        return f"http://{self.host}:{self.port}{path}"

    def add(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        status: int = 200,
        headers: dict[str, str] | None = None,
        etag: bool | str = True,
        last_modified: bool | datetime = True,
        delay: float = 0.0,
        drip: float = 0.0,
        chunk_size: int = 16,
    ) -> str:
        """Register (or replace) ``path``; returns its absolute URL.

        ``etag=True`` serves a strong hash of the body (a str is used verbatim);
        ``last_modified=True`` serves a timestamp strictly later than any earlier add(), so
        re-adding a changed body within the same second still invalidates If-Modified-Since.
        ``delay`` stalls before the status line; ``drip`` sends the body ``chunk_size``
        bytes at a time with that many seconds between chunks.
        """
        if isinstance(etag, str):
            tag: str | None = etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'
        elif etag:
            tag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        else:
            tag = None
        with self._lock:
            if isinstance(last_modified, datetime):
                stamp: float | None = int(last_modified.timestamp())
            elif last_modified:
                self._last_modified = max(int(time.time()), self._last_modified + 1)
                stamp = self._last_modified
            else:
                stamp = None
            self._routes[_normalise(path)] = _Resource(
                body=body,
                status=status,
                content_type=content_type,
                headers=dict(headers or {}),
                etag=tag,
                last_modified=stamp,
                delay=delay,
                drip=drip,
                chunk_size=max(1, chunk_size),
            )
        return self.url(path)

    def redirect(self, path: str, to: str, status: int = 301) -> str:
        """Make ``path`` redirect to ``to`` (a path on this server or an absolute URL)."""
        location = self.url(to) if to.startswith("/") else to
        return self.add(
            path,
            b"",
            content_type="text/plain; charset=utf-8",
            status=status,
            headers={"Location": location},
            etag=False,
            last_modified=False,
        )

    def set_status(self, path: str, status: int, headers: dict[str, str] | None = None) -> None:
        """Answer ``path`` with a plain-text ``status`` (e.g. 410, 429 + Retry-After, 503).

        A 2xx status lifts the override and serves the registered resource again.
        """
        path = _normalise(path)
        with self._lock:
            resource = self._routes.get(path)
            if resource is None:
                resource = _Resource(b"", 200, DEFAULT_CONTENT_TYPE, {}, None, None, 0.0, 0.0, 16)
                self._routes[path] = resource
            resource.override = None if 200 <= status < 300 else (status, dict(headers or {}))

    # -- inspection ------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop serving and join every thread, including ones stalled in delay/drip."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._httpd.shutdown()
        self._thread.join()
        with self._lock:
            active = list(self._active)
        for sock in active:
            _shutdown(sock)
        self._httpd.server_close()  # joins the request threads (block_on_close)

    def __enter__(self) -> FeedServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- called from handler threads -------------------------------------------------------

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False if the server is closing and the handler should quit."""
        if seconds > 0:
            return not self._closing.wait(seconds)
        return not self._closing.is_set()

    def _record(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self._requests.append(RecordedRequest(method, path, headers))

    def _track(self, sock: socket.socket, active: bool) -> None:
        with self._lock:
            if not active:
                self._active.discard(sock)
            elif not self._closing.is_set():
                self._active.add(sock)
            else:
                # Accepted just before shutdown but set up after close() took its snapshot
                # of active sockets: end it here, or it would idle until its timeout.
                _shutdown(sock)

    def _respond(self, path: str, headers: dict[str, str]) -> _Response:
        with self._lock:
            # An exact match (query string included) wins over the bare path.
            resource = self._routes.get(path) or self._routes.get(urlsplit(path).path)
        if resource is None:
            return _plain(HTTPStatus.NOT_FOUND)
        timing = {"delay": resource.delay, "drip": resource.drip, "chunk_size": resource.chunk_size}
        if resource.override is not None:
            status, extra = resource.override
            response = _plain(status, extra)
            response.delay = resource.delay
            return response

        validators = {}
        if resource.etag is not None:
            validators["ETag"] = resource.etag
        if resource.last_modified is not None:
            validators["Last-Modified"] = email.utils.formatdate(
                resource.last_modified, usegmt=True
            )
        if 200 <= resource.status < 300 and _not_modified(resource, headers):
            return _Response(304, validators, b"", delay=resource.delay)
        out = {"Content-Type": resource.content_type, **validators}
        return _Response(resource.status, _merge(out, resource.headers), resource.body, **timing)


def _shutdown(sock: socket.socket) -> None:
    """Wake a handler thread blocked reading from (or writing to) a client that stalls."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the client


def _normalise(path: str) -> str:
    if not path.startswith("/"):
        path = "/" + path
    return path


def _plain(status: int, headers: dict[str, str] | None = None) -> _Response:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    body = f"{status} {phrase}\n".encode()
    return _Response(
        status, _merge({"Content-Type": "text/plain; charset=utf-8"}, headers or {}), body
    )


def _merge(base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """Overlay ``extra`` on ``base`` treating header names case-insensitively."""
    merged = {name.lower(): (name, value) for name, value in base.items()}
    merged.update({name.lower(): (name, value) for name, value in extra.items()})
    return dict(merged.values())


def _not_modified(resource: _Resource, headers: dict[str, str]) -> bool:
    # RFC 9110 13.1.3: If-None-Match, when present, decides alone (weak comparison).
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if resource.etag is None:
            return False
        if if_none_match.strip() == "*":
            return True
        offered = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return resource.etag.removeprefix("W/") in offered
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None or resource.last_modified is None:
        return False
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # unparseable dates are ignored, as RFC 9110 13.1.3 requires
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return resource.last_modified <= since.timestamp()


class _HTTPServer(ThreadingHTTPServer):
    # Since 3.11 socketserver only tracks (and server_close() only joins) non-daemon
    # request threads; joining them is what guarantees no thread outlives close().
    daemon_threads = False

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *, feed: FeedServer
    ) -> None:
        self.feed = feed
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() does a reverse-DNS getfqdn(), which can stall for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hanging up mid-response is what timeout tests are about; stay quiet then.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)) or self.feed._closing.is_set():
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    # One request per connection: no idle keep-alive socket can hold a thread open.
    protocol_version = "HTTP/1.0"
    disable_nagle_algorithm = True  # so each drip chunk leaves immediately
    timeout = 10  # a client that never sends its request can't pin a thread forever

    def setup(self) -> None:
        super().setup()
        self.server.feed._track(self.connection, active=True)

    def finish(self) -> None:
        self.server.feed._track(self.connection, active=False)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, *, send_body: bool) -> None:
        feed = self.server.feed
        headers = {name.lower(): value for name, value in self.headers.items()}
        feed._record(self.command, self.path, headers)
        response = feed._respond(self.path, headers)
        if not feed._wait(response.delay):
            return
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.status != 304:
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if not send_body or response.status == 304:
                return
            if response.drip <= 0:
                self.wfile.write(response.body)
                return
            for start in range(0, len(response.body), response.chunk_size):
                if start and not feed._wait(response.drip):
                    return
                self.wfile.write(response.body[start : start + response.chunk_size])
        except ConnectionError:
            pass  # the client gave up (e.g. its timeout fired); nothing left to send to

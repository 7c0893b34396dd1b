"""Serve ``/static/…`` (the vendored front-end files) with versioned URLs and long caching.

The files under ``mailer/web/static/`` are built by ``make assets`` and committed, so
serving them needs no Node. A page links a file through :func:`StaticAssets.url`, which
appends the first characters of the file's SHA-256 (``?v=…``): a response to a URL with
the current version may be cached for a year and never revalidated, and an upgraded
file gets a new URL, so no browser keeps an old bundle. A URL without the current
version (typed by hand, or from a page rendered before an upgrade) is cached briefly.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

#: Where the vendored files live, inside the package (so a wheel carries them).
STATIC_DIR = Path(__file__).parent / "static"

#: A versioned URL names one content for ever (RFC 8246 ``immutable``).
LONG_CACHE = "public, max-age=31536000, immutable"
#: An unversioned or outdated URL may change with the next upgrade.
SHORT_CACHE = "public, max-age=300"

#: JavaScript's registered type (RFC 9239); Python 3.11's mimetypes may say
#: ``application/javascript`` or whatever /etc/mime.types holds.
_TYPES = {".js": "text/javascript; charset=utf-8", ".json": "application/json"}


class StaticAssets(StaticFiles):
    """``StaticFiles`` over :data:`STATIC_DIR` that sets the cache header by version."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        super().__init__(directory=directory)
        self.root = directory
        self._versions: dict[str, str] = {}

    def version(self, path: str, /) -> str:
        """The version tag of ``path`` (relative to the static folder), read once."""
        version = self._versions.get(path)
        if version is None:
            digest = hashlib.sha256((self.root / path).read_bytes()).hexdigest()
            version = self._versions[path] = digest[:12]
        return version

    def url(self, path: str, /) -> str:
        """The URL a page uses for ``path``: ``/static/PATH?v=VERSION``."""
        return f"/static/{path}?v={self.version(path)}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = self.get_path(scope)
        query = scope.get("query_string", b"").decode("latin-1")
        wanted = dict(part.partition("=")[::2] for part in query.split("&") if part).get("v")

        async def send_with_cache(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                headers = MutableHeaders(scope=message)
                current = wanted is not None and self._matches(path, wanted)
                headers["Cache-Control"] = LONG_CACHE if current else SHORT_CACHE
                suffix = Path(path).suffix
                if suffix in _TYPES and message["status"] == 200:
                    headers["Content-Type"] = _TYPES[suffix]
            await send(message)

        await super().__call__(scope, receive, send_with_cache)

    def _matches(self, path: str, wanted: str) -> bool:
        try:
            return self.version(path) == wanted
        except OSError:
            return False

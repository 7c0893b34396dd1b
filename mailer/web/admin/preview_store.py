"""The template editor's rendered previews, kept a short while in memory for the preview iframes.

The editor's iframes load the HTML part by URL (``/admin/templates/preview/{key}``)
so that it arrives with its own script-free CSP, never inline in the admin page. A
preview is a draft nobody else needs: it lives in this process only, bounded in count
and age, under a random key, and answers only to the staff session that rendered it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

#: How many previews one app keeps: a few staff members typing, each keystroke pause
#: one preview; the oldest goes first.
CAPACITY = 100
#: How long a preview answers (seconds): long enough to look at, short enough to forget.
LIFETIME = 15 * 60


@dataclass(frozen=True, slots=True)
class _Entry:
    session_id: int
    html: str
    expires: float


class PreviewStore:
    """Rendered HTML parts by random key, for the session that rendered them; thread-safe."""

    def __init__(self, *, capacity: int = CAPACITY, lifetime: float = LIFETIME) -> None:
        self.capacity = capacity
        self.lifetime = lifetime
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, session_id: int, html: str, /, *, now: float | None = None) -> str:
        """Keep ``html`` for ``session_id``; return its key (URL-safe, unguessable)."""
        now = time.monotonic() if now is None else now
        key = secrets.token_urlsafe(18)
        with self._lock:
            self._forget_expired(now)
            self._entries[key] = _Entry(session_id, html, now + self.lifetime)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return key

    def get(self, session_id: int, key: str, /, *, now: float | None = None) -> str | None:
        """The HTML kept under ``key`` for this session, or None (unknown, expired, another's)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.session_id != session_id:
                return None
            if entry.expires <= now:
                del self._entries[key]
                return None
            return entry.html

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _forget_expired(self, now: float) -> None:
        # Entries are in insertion order with one lifetime, so the expired are at the front.
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.expires > now:
                break
            del self._entries[key]

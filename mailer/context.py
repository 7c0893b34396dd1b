"""The typed application context: every service a use case needs, built once by bootstrap.

A leaf: it names the services' types for the type checker only, so importing it costs
nothing. Services whose libraries are heavy to import (Jinja2 and css-inline, dkimpy)
are ``Lazy`` — built on first use, so a command that never renders a digest never
imports them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from mailer.config import Settings
    from mailer.mail.prepared import DkimSigner
    from mailer.render import MailRenderer
    from mailer.store.offloop import DatabaseRunner

T = TypeVar("T")


class Lazy(Generic[T]):
    """A service built by ``factory`` on the first ``get()``, then shared (thread-safe)."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._built = False
        self._value: T | None = None

    def get(self) -> T:
        if not self._built:
            with self._lock:
                if not self._built:
                    self._value = self._factory()
                    self._built = True
        return self._value  # type: ignore[return-value]


@dataclass
class AppContext:
    """Everything a use case or entry point needs, created once per process by bootstrap."""

    settings: Settings
    engine: Engine
    #: Runs blocking store work off the event loop (one thread per process on SQLite).
    database: DatabaseRunner
    #: Key of the HMACs that name rate-limit counters (no address or IP is stored in clear).
    rate_limit_key: bytes
    #: The digest's template renderer; templates compile once and reload when edited.
    mail_renderer: Lazy[MailRenderer]
    #: The DKIM signer of digests and notices; None when signing is off (ConfigError if broken).
    dkim_signer: Lazy[DkimSigner | None]
    #: Consent-text versions seen in the store (they are never deleted, so the cache never lies).
    known_consent_versions: set[str] = field(default_factory=set)

    def close(self) -> None:
        # The database thread ends before the engine it uses goes.
        self.database.close()
        self.engine.dispose()

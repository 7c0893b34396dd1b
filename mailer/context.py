"""The typed application context: every service a use case needs, built once by bootstrap.

A leaf: it names the services' types for the type checker only, so importing it costs
nothing. Services whose libraries are heavy to import (Jinja2 and css-inline, dkimpy)
are ``Lazy`` — built on first use, so a command that never renders a digest never
imports them (and starts no render process).

Two steps meet here without importing each other (design §2): the delivery worker
sends notices that the subscribers step builds (``build_notice``, wired by bootstrap),
and code that queued a notice rings the ``mail_bell`` to wake this process's worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from datetime import datetime
    from email.message import EmailMessage

    from sqlalchemy import Engine

    from mailer.config import Settings
    from mailer.keys import IdentityKeys
    from mailer.mail.dkim import DkimSigner
    from mailer.metrics import ProcessMetrics
    from mailer.render import MailRenderer, RenderPool
    from mailer.store.notices import ClaimedNotice
    from mailer.store.offloop import DatabaseRunner

T = TypeVar("T")


class Lazy(Generic[T]):
    """A service built by ``factory`` on the first ``get()``, then shared (thread-safe)."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._built = False
        self._value: T | None = None

    def built(self) -> T | None:
        """The service if it has been built, else None (without building it)."""
        return self._value if self._built else None

    def get(self) -> T:
        if not self._built:
            with self._lock:
                if not self._built:
                    self._value = self._factory()
                    self._built = True
        return self._value  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class NotNeeded:
    """A notice builder's answer for a notice that lost its purpose (subscriber gone, already confirmed)."""

    reason: str


class NoticeBuilder(Protocol):
    """Builds a claimed notice's message (a blocking call: it renders and may write a token).

    Returns :class:`NotNeeded` when the notice should not be sent any more; raises
    ``MailerError`` or ``ValueError`` when it cannot be built (that notice fails alone).
    """

    def __call__(
        self, ctx: AppContext, notice: ClaimedNotice, /, *, now: datetime
    ) -> EmailMessage | NotNeeded: ...


class MailBell:
    """Wakes the delivery workers of this process as soon as a commit has queued mail.

    A worker waiting for work listens; code that just queued a notice rings, and the
    worker claims it at once instead of at its next poll. Thread-safe: ring from a
    request handler's thread or from the event loop alike.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def listen(self, callback: Callable[[], None], /) -> Callable[[], None]:
        """Call ``callback`` on every ring until the returned function is called."""
        with self._lock:
            self._listeners.append(callback)

        def stop_listening() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return stop_listening

    def ring(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            callback()


def _process_metrics() -> ProcessMetrics:
    # Imported on first use: prometheus_client costs a tenth of a second to load.
    from mailer.metrics import ProcessMetrics

    return ProcessMetrics()


@dataclass
class AppContext:
    """Everything a use case or entry point needs, created once per process by bootstrap."""

    settings: Settings
    engine: Engine
    #: Runs blocking store work off the event loop (in the default thread pool).
    database: DatabaseRunner
    #: Key of the HMACs that name rate-limit counters (no address or IP is stored in clear).
    rate_limit_key: bytes
    #: Link tokens and address keys derived from the secret key (mailer/keys.py).
    keys: IdentityKeys
    #: The render processes every template renders in, bounded in time and memory.
    render_pool: Lazy[RenderPool]
    #: The digest's template renderer; templates compile once and reload when edited.
    mail_renderer: Lazy[MailRenderer]
    #: The renderer of the notice templates (confirmation, results, re-confirmation).
    notice_renderer: Lazy[MailRenderer]
    #: The DKIM signer of digests and notices; None when signing is off (ConfigError if broken).
    dkim_signer: Lazy[DkimSigner | None]
    #: The subscribers step's notice builder, called by the delivery worker for each notice.
    build_notice: NoticeBuilder
    #: Rung after a commit that queued mail, so this process's delivery workers wake at once.
    mail_bell: MailBell = field(default_factory=MailBell)
    #: This process's own counters and histograms (its own registry: mailer/metrics.py).
    metrics: Lazy[ProcessMetrics] = field(default_factory=lambda: Lazy(_process_metrics))

    def close(self) -> None:
        # The database thread ends before the engine it uses goes.
        self.database.close()
        self.engine.dispose()
        pool = self.render_pool.built()
        if pool is not None:
            pool.close()

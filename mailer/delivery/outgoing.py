"""What a worker holds and sends: claimed digests and notices, turned into bytes and an envelope; the run's tally.

A digest delivery is personalised from its edition, prepared once per worker run
(mailer.mail.prepared). A notice is built by the subscribers step's builder
(``ctx.build_notice``, wired by bootstrap: this step may not import that one), then
serialised, DKIM-signed like a digest and dot-stuffed (:func:`mailer.mail.wire_bytes`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from mailer.context import AppContext, NotNeeded
from mailer.errors import DeliveryError, MailerError
from mailer.mail import (
    DkimSigner,
    PreparedEdition,
    Recipient,
    needs_smtputf8,
    personalise,
    smtp_address,
    wire_bytes,
)
from mailer.models import DeliveryState
from mailer.store.deliveries import ClaimedDelivery
from mailer.store.notices import ClaimedNotice

log = logging.getLogger("mailer.delivery")

#: One message a worker holds: a digest delivery or a notice.
Claimed = ClaimedDelivery | ClaimedNotice


class Envelope(NamedTuple):
    """A message ready for :meth:`mailer.mail.RelayConnection.deliver` (a tuple: one is made per message)."""

    data: bytes
    sender: str
    recipient: str
    utf8: bool


def digest_envelope(prepared: PreparedEdition, item: ClaimedDelivery, /) -> Envelope:
    """One subscriber's copy of an edition (CPU only: tens of microseconds)."""
    recipient = smtp_address(item.email)
    data = personalise(prepared, Recipient(item.subscriber_id, item.email, item.name, item.token))
    return Envelope(data, prepared.sender, recipient, needs_smtputf8(prepared.sender, recipient))


def notice_envelope(
    ctx: AppContext, item: ClaimedNotice, /, *, signer: DkimSigner | None, now: datetime
) -> Envelope:
    """Build, serialise and sign one notice; blocking (it may write a confirmation token).

    A notice that lost its purpose or cannot be built raises a permanent
    DeliveryError, so that it fails alone; any other error is the worker's to treat as
    a temporary one (the database may be down for a moment).
    """
    sender = ctx.settings.compliance.from_address
    try:
        message = ctx.build_notice(ctx, item, now=now)
        if isinstance(message, NotNeeded):
            raise DeliveryError(message.reason, temporary=False)
        recipient = smtp_address(item.to_address)
        utf8 = needs_smtputf8(sender, recipient)
        # Notices carry List-Unsubscribe(-Post) too; RFC 8058 §4 wants them covered by
        # a DKIM signature, as on the digest.
        data = wire_bytes(message, utf8=utf8, signer=signer)
    except DeliveryError:
        raise
    except (MailerError, ValueError) as exc:
        # A broken template or an address the mail library refuses fails this notice
        # only; it would fail the same way on every retry.
        log.error("notice %s (%s) cannot be built: %s", item.id, item.kind, exc)
        raise DeliveryError(f"cannot be built: {exc}", temporary=False) from exc
    return Envelope(data, sender, recipient, utf8)


@dataclass(slots=True)
class Result:
    """What came back from one connection for one claimed message."""

    item: Claimed
    reply: str | None = None
    error: Exception | None = None
    started_at: datetime | None = None
    #: A stopping worker gave it back before it went on the wire (it was not attempted).
    abandoned: bool = False


@dataclass
class NoticeTally:
    """What one worker run did with notices."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0
    unknown: int = 0
    #: In-flight notices of dead workers this worker marked unknown.
    recovered_unknown: int = 0

    def add(self, state: DeliveryState) -> None:
        name = str(state)
        setattr(self, name, getattr(self, name) + 1)


@dataclass
class WorkerSummary:
    """What one run of a worker did; the counts without a prefix are digest deliveries."""

    worker_id: str
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    #: In-flight deliveries of dead workers this worker marked unknown at start-up or later.
    recovered_unknown: int = 0
    completed_editions: list[int] = field(default_factory=list)
    paused: dict[int, str] = field(default_factory=dict)
    #: Editions this worker resumed by itself once the relay answered again (auto_resume.py).
    resumed: list[int] = field(default_factory=list)
    notices: NoticeTally = field(default_factory=NoticeTally)
    elapsed: float = 0.0

    @property
    def attempted(self) -> int:
        return self.sent + self.deferred + self.failed + self.unknown

    def add(self, state: DeliveryState) -> None:
        name = str(state)
        setattr(self, name, getattr(self, name) + 1)

    def count(self, item: Claimed, state: DeliveryState) -> None:
        (self.notices if isinstance(item, ClaimedNotice) else self).add(state)


#: Called with the running summary after every batch of outcomes.
Progress = Callable[[WorkerSummary], object]

"""The retry policy of every mail the worker sends, digests and notices: what an attempt's end means, and when to try again.

An attempt ends in one of four ways (RFC 5321 §4.2.1, RFC 1047):

- 2xx — **sent**;
- 4xx, or the relay unreachable — **deferred**, retried after :func:`mailer.retry.backoff_delay`
  (exponential, jittered) until ``retry_for`` seconds have passed since the first
  attempt; then **failed**;
- 5xx — **failed** at once; for a digest, a refused mailbox (550/551/553 at RCPT) is
  also a hard bounce that suppresses the address;
- the connection lost after the final dot — **unknown**: the relay may have the
  message, so it is never retried automatically (a duplicate costs more than a miss).

Digests and notices share the rules and differ only in the figures: ``delivery.*``
for digests, ``subscriptions.notice_retry_for`` / ``notice_backoff_base`` /
``notice_backoff_max`` for notices, which a subscriber waits for and so may be
retried for longer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailer.config import Settings
from mailer.delivery.outgoing import Result
from mailer.errors import DeliveryError, LostReply, RefusedAt, TransportError
from mailer.models import DeliveryState
from mailer.retry import backoff_delay
from mailer.store.mail_queue import Outcome
from mailer.store.notices import ClaimedNotice

log = logging.getLogger("mailer.delivery")

#: RFC 5321 codes that say the mailbox does not exist: the address is suppressed.
HARD_BOUNCE_CODES = frozenset({550, 551, 553})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a temporarily failing mail is retried, and how far apart the tries are."""

    retry_for: float
    backoff_base: float
    backoff_max: float

    @classmethod
    def for_digests(cls, settings: Settings, /) -> RetryPolicy:
        delivery = settings.delivery
        return cls(delivery.retry_for, delivery.backoff_base, delivery.backoff_max)

    @classmethod
    def for_notices(cls, settings: Settings, /) -> RetryPolicy:
        notices = settings.subscriptions
        return cls(
            notices.notice_retry_for, notices.notice_backoff_base, notices.notice_backoff_max
        )

    def outcome(
        self,
        row_id: int,
        /,
        *,
        reply: str | None,
        error: Exception | None,
        attempts: int,
        since: datetime,
        now: datetime,
    ) -> Outcome:
        """The outcome of attempt number ``attempts + 1``; ``since`` starts the retry deadline."""
        if error is None:
            return _sent(row_id, reply)
        if isinstance(error, LostReply):
            return Outcome(row_id, DeliveryState.UNKNOWN, error=str(error))
        if not isinstance(error, DeliveryError):
            log.error("unexpected error sending mail %s", row_id, exc_info=error)
            error = DeliveryError(
                f"internal error: {error.__class__.__name__}: {error}", temporary=True
            )
        if not error.temporary:
            return Outcome(row_id, DeliveryState.FAILED, code=error.code, error=str(error))
        deadline = since + timedelta(seconds=self.retry_for)
        if now >= deadline:
            return Outcome(
                row_id,
                DeliveryState.FAILED,
                code=error.code,
                error=f"gave up after {attempts + 1} attempts: {error}",
            )
        delay = backoff_delay(attempts + 1, base=self.backoff_base, maximum=self.backoff_max)
        return Outcome(
            row_id,
            DeliveryState.DEFERRED,
            code=error.code,
            error=str(error),
            next_attempt_at=min(now + timedelta(seconds=delay), deadline),
        )


def outcome_of(
    result: Result, /, *, digests: RetryPolicy, notices: RetryPolicy, now: datetime
) -> Outcome:
    """The outcome of one result: a notice by the notice figures, a delivery by the digest ones.

    A notice's deadline counts from when it was queued (its reader waits since then), a
    delivery's from its first attempt, like Mailman's ``deliver_until``.
    """
    item = result.item
    if result.error is None:
        # The common case, first: the same for digests and notices.
        return _sent(item.id, result.reply)
    if isinstance(item, ClaimedNotice):
        return notices.outcome(
            item.id,
            reply=result.reply,
            error=result.error,
            attempts=item.attempts,
            since=item.created_at,
            now=now,
        )
    outcome = digests.outcome(
        item.id,
        reply=result.reply,
        error=result.error,
        attempts=item.attempts,
        since=item.first_attempt_at or result.started_at or now,
        now=now,
    )
    if outcome.state == DeliveryState.FAILED and is_hard_bounce(result.error):
        outcome.bounce_subscriber_id = item.subscriber_id
        outcome.bounce_email = item.email
    return outcome


def _sent(row_id: int, reply: str | None, /) -> Outcome:
    """2xx: sent, with the relay's code."""
    code = int(reply.split(" ", 1)[0]) if reply else 250
    return Outcome(row_id, DeliveryState.SENT, code=code)


def is_hard_bounce(error: Exception | None, /) -> bool:
    """The relay said at RCPT that the mailbox does not exist (RFC 5321 550/551/553)."""
    return (
        isinstance(error, RefusedAt) and error.stage == "RCPT" and error.code in HARD_BOUNCE_CODES
    )


def is_transport_failure(error: Exception | None, /) -> bool:
    """Failures that say the relay is unusable rather than something about one recipient."""
    # A MAIL refusal of an SMTPUTF8 transaction is about this recipient's address
    # (RFC 6531 §3.4), not the relay: it must not count towards pausing the edition.
    return isinstance(error, TransportError) or (
        isinstance(error, RefusedAt) and error.stage == "MAIL" and not error.smtputf8
    )

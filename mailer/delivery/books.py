"""A worker's books, one transaction per tick: record what came back, give back what was not sent, mark what starts.

Writing the outcomes and marking the next messages ``sending`` in one transaction
keeps the worker's invariant (worker.py) at one commit per tick instead of one per
message. Digest deliveries and notices are sorted here into their tables; the state
machine is the same for both (store/mail_queue.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from mailer.delivery.outgoing import Claimed, Result
from mailer.delivery.retry import RetryPolicy, outcome_of
from mailer.keys import IdentityKeys
from mailer.models import DeliveryState
from mailer.store import deliveries as delivery_store
from mailer.store import mail_queue
from mailer.store import notices as notice_store
from mailer.store.deliveries import ClaimedDelivery
from mailer.store.mail_queue import DELIVERY_QUEUE, NOTICE_QUEUE, Outcome
from mailer.store.notices import ClaimedNotice


@dataclass(slots=True)
class Tick:
    """What one tick of the worker loop writes."""

    results: list[Result] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    digests_done: list[Outcome] = field(default_factory=list)
    notices_done: list[Outcome] = field(default_factory=list)
    notices_sent: list[ClaimedNotice] = field(default_factory=list)
    #: Given back by a stopping worker before the final dot: not an attempt, so no outcome.
    unsent: list[Claimed] = field(default_factory=list)
    start: list[Claimed] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        results: list[Result],
        start: list[Claimed],
        /,
        *,
        digests: RetryPolicy,
        notices: RetryPolicy,
        now: datetime,
    ) -> Tick:
        tick = cls(start=start)
        for result in results:
            if result.abandoned:
                tick.unsent.append(result.item)
                continue
            outcome = outcome_of(result, digests=digests, notices=notices, now=now)
            tick.results.append(result)
            tick.outcomes.append(outcome)
            if isinstance(result.item, ClaimedNotice):
                tick.notices_done.append(outcome)
                if outcome.state == DeliveryState.SENT:
                    tick.notices_sent.append(result.item)
            else:
                tick.digests_done.append(outcome)
        return tick

    def write(
        self, conn: Connection, /, *, worker_id: str, now: datetime, keys: IdentityKeys
    ) -> list[Claimed]:
        """Record, give back, start; returns the started messages this worker still holds, in order."""
        unsent_digests = [item for item in self.unsent if isinstance(item, ClaimedDelivery)]
        mail_queue.give_back(
            conn,
            DELIVERY_QUEUE,
            [(item.id, item.state, item.first_attempt_at) for item in unsent_digests],
            worker_id=worker_id,
        )
        mail_queue.give_back(
            conn,
            NOTICE_QUEUE,
            [
                (item.id, item.state, None)
                for item in self.unsent
                if isinstance(item, ClaimedNotice)
            ],
            worker_id=worker_id,
        )
        if self.digests_done:
            delivery_store.record_outcomes(
                conn, self.digests_done, worker_id=worker_id, now=now, keys=keys
            )
        if self.notices_done:
            notice_store.record_outcomes(
                conn,
                self.notices_done,
                sent=self.notices_sent,
                worker_id=worker_id,
                now=now,
                keys=keys,
            )
        digests = [item for item in self.start if isinstance(item, ClaimedDelivery)]
        notices = [item for item in self.start if isinstance(item, ClaimedNotice)]
        held = mail_queue.start_sending(
            conn, DELIVERY_QUEUE, [item.id for item in digests], worker_id=worker_id, now=now
        )
        held_notices = mail_queue.start_sending(
            conn, NOTICE_QUEUE, [item.id for item in notices], worker_id=worker_id, now=now
        )
        return [
            item
            for item in self.start
            if item.id in (held_notices if isinstance(item, ClaimedNotice) else held)
        ]


def release(conn: Connection, items: list[Claimed], /, *, worker_id: str) -> None:
    """Give back claims that were never started (a clean stop, a paused edition)."""
    for queue, kind in ((DELIVERY_QUEUE, ClaimedDelivery), (NOTICE_QUEUE, ClaimedNotice)):
        ids = [item.id for item in items if isinstance(item, kind)]
        mail_queue.release_claims(conn, queue, ids, worker_id=worker_id)

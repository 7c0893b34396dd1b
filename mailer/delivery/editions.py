"""The digest side of a worker: claim the sendable editions' deliveries, prepare each edition once, pause a failing one.

An edition is encoded once per worker run (mailer.mail.prepared) and every claimed
delivery personalised from it. When more than ``delivery.pause_error_rate`` of an
edition's last ``delivery.pause_window`` attempts failed for transport reasons, the
relay is unusable: the edition is paused and its unsent claims given back, until
staff run ``mailer digest resume`` or, with ``delivery.auto_resume``, the relay has
answered again for ``delivery.auto_resume_after`` seconds (auto_resume.py). Only a
pause whose reason starts with :data:`RELAY_PAUSE` resumes by itself: an edition that
cannot be built would fail the same way again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime

from mailer.config import Settings
from mailer.delivery.outgoing import Claimed, Envelope, Result, WorkerSummary, digest_envelope
from mailer.delivery.retry import is_transport_failure
from mailer.errors import DeliveryError
from mailer.keys import IdentityKeys
from mailer.mail import PreparedEdition, prepare_edition
from mailer.store import deliveries as store
from mailer.store.deliveries import ClaimedDelivery
from mailer.store.installation import message_id_part
from mailer.store.offloop import DatabaseRunner

log = logging.getLogger("mailer.delivery")

#: How the reason of a pause for transport failures begins (the edition row keeps no
#: other mark of why it was paused).
RELAY_PAUSE = "paused by relay failures: "


def paused_by_relay(reason: str | None, /) -> bool:
    """Whether a paused edition's reason says the relay failed (so it may resume by itself)."""
    return bool(reason) and reason.startswith(RELAY_PAUSE)


class EditionClaims:
    """What a worker knows about the editions it sends: prepared mail, recent transport failures."""

    def __init__(
        self,
        settings: Settings,
        /,
        *,
        keys: IdentityKeys,
        db: DatabaseRunner,
        worker_id: str,
        summary: WorkerSummary,
        backlog: deque[Claimed],
        give_back: Callable[[list[Claimed]], Awaitable[None]],
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.delivery = settings.delivery
        self.keys = keys
        self.db = db
        self.worker_id = worker_id
        self.summary = summary
        self.backlog = backlog
        self.give_back = give_back
        self.clock = clock
        self.prepared: dict[int, PreparedEdition] = {}
        self.numbers: dict[int, int] = {}
        self.windows: dict[int, deque[bool]] = {}
        self.last_transport_error: dict[int, str] = {}

    def envelope(self, item: ClaimedDelivery, /) -> Envelope:
        return digest_envelope(self.prepared[item.edition_id], item)

    async def claim(self, *, limit: int) -> int:
        """Add up to ``limit`` deliveries to the backlog; completes editions with nothing left."""
        editions = await self.db.read(store.sendable_editions)
        sendable = set(editions)
        for edition_id in [e for e in self.windows if e not in sendable]:
            # Paused, maybe by another worker: the failures so far have been judged, and
            # after a resume the count starts again (or the edition would pause at once).
            del self.windows[edition_id]
        stale = [item for item in self._deliveries() if item.edition_id not in sendable]
        if stale:
            # Another worker paused that edition: give the rows back unsent.
            await self.give_back(stale)
        claimed = 0
        for edition_id in editions:
            if edition_id not in self.prepared and not await self._prepare(edition_id):
                continue
            batch = await self.db.transaction(
                store.claim_batch,
                worker_id=self.worker_id,
                edition_id=edition_id,
                limit=limit - claimed,
                now=self.clock(),
                keys=self.keys,
            )
            self.summary.skipped += batch.skipped
            if batch.claimed or batch.skipped:
                await self.db.transaction(store.mark_edition_sending, edition_id)
            self.backlog.extend(batch.claimed)
            claimed += len(batch.claimed)
            if not batch.claimed and not batch.skipped and not self._holds(edition_id):
                if await self.db.transaction(
                    store.finish_edition_if_done, edition_id, now=self.clock()
                ):
                    self.summary.completed_editions.append(edition_id)
                    log.info("edition %s is complete", self.numbers.get(edition_id, edition_id))
            if claimed >= limit:
                break
        return claimed

    def _deliveries(self) -> list[ClaimedDelivery]:
        return [item for item in self.backlog if isinstance(item, ClaimedDelivery)]

    def _holds(self, edition_id: int) -> bool:
        return any(item.edition_id == edition_id for item in self._deliveries())

    async def _prepare(self, edition_id: int) -> bool:
        edition = await self.db.read(store.get_edition, edition_id)
        if edition is None:
            return False
        installation = await self.db.read(message_id_part)
        self.numbers[edition_id] = edition["number"]
        try:
            self.prepared[edition_id] = prepare_edition(
                self.settings, edition, message_id_part=installation
            )
        except DeliveryError as exc:
            await self._pause(edition_id, f"cannot build the mail: {exc}")
            return False
        return True

    async def watch_errors(self, results: list[Result], /) -> None:
        """Pause an edition when too many of its recent attempts failed for transport reasons."""
        window_size = self.delivery.pause_window
        for result in results:
            item = result.item
            if result.abandoned or not isinstance(item, ClaimedDelivery):
                continue
            window = self.windows.setdefault(item.edition_id, deque(maxlen=window_size))
            transport = is_transport_failure(result.error)
            window.append(transport)
            if transport:
                self.last_transport_error[item.edition_id] = str(result.error)
        for edition_id, window in list(self.windows.items()):
            if len(window) < window_size:
                continue
            failures = sum(window)
            if failures / len(window) > self.delivery.pause_error_rate:
                reason = (
                    f"{RELAY_PAUSE}{failures} of the last {len(window)} attempts failed for transport "
                    f"reasons (last: {self.last_transport_error.get(edition_id, '?')})"
                )
                await self._pause(edition_id, reason)

    async def _pause(self, edition_id: int, reason: str) -> None:
        number = self.numbers.get(edition_id, edition_id)
        then = f"run `mailer digest resume {number}`"
        if paused_by_relay(reason) and self.delivery.auto_resume:
            wait = self.delivery.auto_resume_after
            reason = f"{reason}; it resumes by itself once the relay has answered for {wait:g} s, or {then}"
        else:
            reason = f"{reason}; fix the cause, then {then}"
        if await self.db.transaction(store.pause_edition, edition_id, reason=reason):
            log.warning("edition %s %s", number, reason)
        self.summary.paused[edition_id] = reason
        self.windows.pop(edition_id, None)
        mine = [item for item in self._deliveries() if item.edition_id == edition_id]
        if mine:
            await self.give_back(mine)

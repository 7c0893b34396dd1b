"""A worker's watch on editions paused by relay failures: probe the relay, resume them once it has answered long enough.

An edition paused because its relay failed (editions.py, :data:`RELAY_PAUSE`) waited
for a person before issue 14 item 4. Now every worker probes the relay while such an
edition exists — connect, TLS and AUTH as configured, EHLO, MAIL FROM our sender,
RSET, QUIT (:func:`mailer.mail.probe_relay`; no recipient, so nothing is sent) — and once every probe for
``delivery.auto_resume_after`` seconds in a row has passed, it resumes the edition
through the same use case as ``mailer digest resume`` (its deferred deliveries become
due at once). A failed probe starts the count again.

The "answering since" time lives in this process only (no migration): a restarted
worker counts again from its first passing probe. Several workers may count at once;
the resume is one conditional UPDATE (``… WHERE state = 'paused'``), so exactly one of
them resumes the edition and the others find it resumed. With ``delivery.auto_resume``
off the watch still runs, and says once per edition that the relay is back and the
edition waits for ``mailer digest resume``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from mailer.context import AppContext
from mailer.delivery.editions import paused_by_relay
from mailer.delivery.outgoing import WorkerSummary
from mailer.delivery.queue import resume_edition
from mailer.errors import InvalidInputError, TransportError
from mailer.mail import probe_relay
from mailer.store.editions import PausedEdition, list_paused

log = logging.getLogger("mailer.delivery")

#: The longest gap between two probes, whatever ``auto_resume_after`` is.
MAX_PROBE_INTERVAL = 15.0


class AutoResume:
    """One worker's relay watch: whether the relay answers, since when, and the resumes it made."""

    def __init__(
        self,
        ctx: AppContext,
        /,
        *,
        summary: WorkerSummary,
        probe: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ctx = ctx
        self.delivery = ctx.settings.delivery
        self.summary = summary
        sender = ctx.settings.compliance.from_address
        self.probe = probe or (lambda: probe_relay(ctx.settings.smtp, sender=sender))
        self.clock = clock
        #: Monotonic time of the first passing probe of the current run of passes.
        self.answering_since: float | None = None
        #: Editions already reported as waiting for a person (auto_resume off).
        self._reported: set[int] = set()

    @property
    def interval(self) -> float:
        """Seconds between probes: several within ``auto_resume_after``, so one failure shows."""
        return min(self.delivery.auto_resume_after / 4, MAX_PROBE_INTERVAL)

    async def watch_forever(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # noqa: BLE001 — the watch goes on; sending is not affected
                log.exception("the relay watch for paused editions failed")
            await asyncio.sleep(self.interval)

    async def check(self) -> list[int]:
        """One round: probe if an edition waits for the relay; resume what is due. Returns the ids resumed."""
        waiting = [e for e in await self._paused() if paused_by_relay(e.reason)]
        if not waiting:
            self.answering_since = None
            return []
        try:
            await self.probe()
        except TransportError as exc:
            if self.answering_since is not None:
                log.info("the relay failed again (%s); paused editions keep waiting", exc)
            self.answering_since = None
            return []
        now = self.clock()
        if self.answering_since is None:
            self.answering_since = now
            log.info(
                "the relay answers again; %d paused edition(s) resume if it keeps answering "
                "for %g s",
                len(waiting),
                self.delivery.auto_resume_after,
            )
        if now - self.answering_since < self.delivery.auto_resume_after:
            return []
        if not self.delivery.auto_resume:
            self._report_waiting(waiting)
            return []
        resumed = []
        for edition in waiting:
            if await self._resume(edition):
                resumed.append(edition.id)
        return resumed

    async def _paused(self) -> list[PausedEdition]:
        def read() -> list[PausedEdition]:
            with self.ctx.engine.connect() as conn:
                return list_paused(conn)

        return await self.ctx.database.run(read)

    async def _resume(self, edition: PausedEdition) -> bool:
        try:
            due = await self.ctx.database.run(resume_edition, self.ctx, edition.id)
        except InvalidInputError:
            # Another worker (or a person) resumed it first: the UPDATE was conditional.
            return False
        answered = self.clock() - (self.answering_since or self.clock())
        log.warning(
            "edition %s resumed by itself: the relay has answered for %.0f s "
            "(delivery.auto_resume_after = %g s); %d deferred deliveries are due now",
            edition.number,
            answered,
            self.delivery.auto_resume_after,
            due,
        )
        self.summary.resumed.append(edition.id)
        self.ctx.metrics.get().editions_resumed.inc()
        return True

    def _report_waiting(self, waiting: list[PausedEdition]) -> None:
        for edition in waiting:
            if edition.id in self._reported:
                continue
            self._reported.add(edition.id)
            log.warning(
                "the relay has answered for %g s; edition %s stays paused because "
                "delivery.auto_resume is off: run `mailer digest resume %s`",
                self.delivery.auto_resume_after,
                edition.number,
                edition.number,
            )

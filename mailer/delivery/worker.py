"""The delivery worker: the one machinery that sends mail — digest deliveries and notices — over a pool of SMTP connections.

A worker claims rows, keeps a pool of SMTP connections busy and records outcomes in
bulk. Its one invariant: a message is ``sending`` in the database exactly while it
may be on the wire — a row is marked ``sending`` (in the same transaction that
records earlier outcomes) only when a connection is free to take it, and its outcome
is written only after the relay answered (style rule 7). So after a crash the dead
worker's ``sending`` rows, at most one per connection, are the only messages whose
fate is unknown; everything else is retried or final.

Notices (confirmation, welcome, withdrawal, erasure, re-confirmation; the ``notices``
table) go through the same worker, SMTP pool, retry policy (retry.py) and crash rules
as digests, as Mailman 3 sends its notifications through the outgoing queue of its
posts. Each claim round takes due notices first and puts them at the front, so a
signup's confirmation never waits behind an edition. A notice is built (rendered,
its confirmation token minted) only once it is marked ``sending``; a notice in
flight when its worker died becomes **unknown** like a delivery, and nothing is sent
twice automatically. A ``MailBell`` ring (a commit that queued a notice, in this
process) wakes an idle worker at once; otherwise it polls every
``delivery.poll_seconds``.

On stop, messages on the wire are finished; one still before its final dot (a
hung relay, a slow connect) is given back as if never started, since nothing of it
was delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from datetime import datetime

from sqlalchemy import Connection

from mailer.context import AppContext
from mailer.delivery.auto_resume import AutoResume
from mailer.delivery.batch_log import BatchLog
from mailer.delivery.books import Tick, release
from mailer.delivery.editions import EditionClaims
from mailer.delivery.liveness import Liveness
from mailer.delivery.outgoing import (
    Claimed,
    Envelope,
    Progress,
    Result,
    WorkerSummary,
    notice_envelope,
)
from mailer.delivery.queue import new_worker_id, utcnow
from mailer.delivery.retry import RetryPolicy
from mailer.delivery.senders import Senders
from mailer.mail import SmtpPool
from mailer.models import DeliveryState
from mailer.store import deliveries as store
from mailer.store import notices as notice_store
from mailer.store.notices import ClaimedNotice
from mailer.store.offloop import DatabaseRunner

log = logging.getLogger("mailer.delivery")


class _Worker:
    """One worker run: a database thread, a sender task per SMTP connection, and the loop tying them."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        stop: asyncio.Event,
        until_idle: bool,
        notices_only: bool,
        now: datetime | None,
        progress: Progress | None,
    ) -> None:
        self.ctx = ctx
        self.delivery = ctx.settings.delivery
        self.stop = stop
        self.until_idle = until_idle
        self.notices_only = notices_only
        # A fixed clock (tests, commands run "as of" a time) for the queues' times;
        # heartbeats and recovery always use the real one.
        self.fixed_clock = now is not None
        self.clock = (lambda: now) if now is not None else utcnow
        self.progress = progress
        self.id = new_worker_id()
        self.summary = WorkerSummary(worker_id=self.id)
        self.batches = BatchLog(self.summary)
        self.digests = RetryPolicy.for_digests(ctx.settings)
        self.notices = RetryPolicy.for_notices(ctx.settings)
        # One thread with one connection: this worker's writes stay in order and never
        # wait for each other inside the process.
        self.db = DatabaseRunner(ctx.engine, name="mailer-send-db", dedicated=True)
        self.signer = None
        self.backlog: deque[Claimed] = deque()
        self.editions = EditionClaims(
            ctx.settings,
            keys=ctx.keys,
            db=self.db,
            worker_id=self.id,
            summary=self.summary,
            backlog=self.backlog,
            give_back=self._give_back,
            clock=self.clock,
        )
        self.liveness = Liveness(ctx, self.id, db=self.db, summary=self.summary)
        self.senders = Senders(
            SmtpPool(ctx.settings.smtp, observe=ctx.metrics.get().observe_smtp_reply),
            digest=self.editions.envelope,
            notice=self._notice_envelope,
            clock=self.clock,
        )
        self.width = self.senders.width
        self.want = max(self.delivery.batch_size, 2 * self.width)
        self.outstanding = 0
        self.wake = asyncio.Event()
        self._claim_after = 0.0  # monotonic time before which an empty claim is not repeated
        self._notices_after = 0.0  # … and before which a busy worker does not look for notices
        self._recover_after = 0.0

    # lifecycle

    async def run(self) -> WorkerSummary:
        started = time.monotonic()
        # A broken DKIM set-up stops the worker before it claims anything (ConfigError),
        # instead of failing every notice it would claim.
        self.signer = self.ctx.dkim_signer.get()
        stop_listening = self.ctx.mail_bell.listen(self._ring_handler())
        helpers: list[asyncio.Task] = []
        registered = False
        try:
            await self.liveness.register()
            registered = True
            await self._recover()
            helpers = [
                asyncio.create_task(self.liveness.beat_forever()),
                asyncio.create_task(self._on_stop()),
            ]
            if not self.notices_only:
                # An edition paused by relay failures resumes once the relay answers again.
                helpers.append(
                    asyncio.create_task(AutoResume(self.ctx, summary=self.summary).watch_forever())
                )
            self.senders.start()
            await self._loop()
        finally:
            stop_listening()
            await self.senders.close()
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            try:
                if registered:
                    await self._close_books()
            except Exception:  # noqa: BLE001 — the next worker's recovery closes them instead
                log.exception("worker %s could not close its books", self.id)
            finally:
                await self.db.aclose()
            self.batches.close()
            self.summary.elapsed = time.monotonic() - started
        return self.summary

    def _ring_handler(self):
        """What the mail bell calls, from any thread: wake this worker on its own loop."""
        loop = asyncio.get_running_loop()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(self.wake.set)
            except RuntimeError:  # the loop has closed: this worker is gone
                pass

        return wake

    async def _on_stop(self) -> None:
        """When told to stop, give back at once what is not on the wire (the loop may be waiting)."""
        await self.stop.wait()
        self.senders.abandon_unsent()

    async def _close_books(self) -> None:
        """On a clean stop: record what came back, give back unsent claims, leave the registry."""
        leftovers = []
        results = self.senders.results
        while not results.empty():
            leftovers.append(results.get_nowait())
        if leftovers:
            await self._record(leftovers, [])
        backlog = list(self.backlog)
        self.backlog.clear()
        if backlog:
            await self.db.transaction(release, backlog, worker_id=self.id)
        await self.liveness.leave()

    async def _recover(self) -> None:
        await self.liveness.recover()
        self._recover_after = time.monotonic() + self.delivery.stale_after / 2

    # sending

    async def _notice_envelope(self, item: ClaimedNotice) -> Envelope:
        # Rendering and the token's write are blocking: on the worker's own thread.
        return await self.db.run(
            notice_envelope, self.ctx, item, signer=self.signer, now=self.clock()
        )

    async def _record(self, results: list[Result], start: list[Claimed]) -> None:
        """One transaction: the outcomes that came back, and ``sending`` for what starts now."""
        tick = Tick.of(results, start, digests=self.digests, notices=self.notices, now=self.clock())
        held = await self.db.transaction(
            tick.write, worker_id=self.id, now=self.clock(), keys=self.ctx.keys
        )
        self.outstanding += len(held) - len(results)
        for item in held:
            self.senders.put(item)
        sent = self.ctx.metrics.get().messages_sent
        for result, outcome in zip(tick.results, tick.outcomes, strict=True):
            self.summary.count(result.item, outcome.state)
            if outcome.state == DeliveryState.SENT:
                sent.labels(
                    kind="notice" if isinstance(result.item, ClaimedNotice) else "digest"
                ).inc()

    async def _loop(self) -> None:
        bucket = self.senders.pool.bucket
        queue = self.senders.results
        while True:
            stopping = self.stop.is_set()
            if stopping and self.outstanding == 0:
                return
            free = self.width - self.outstanding
            startable = 0 if stopping else min(free, len(self.backlog))
            results: list[Result] = []
            if self.outstanding and (startable == 0 or bucket.wait_time() > 0):
                # Nothing can start now: wait for a connection to come back (or a token).
                timeout = bucket.wait_time() if startable else None
                try:
                    results.append(await asyncio.wait_for(queue.get(), timeout))
                except TimeoutError:
                    pass
            while not queue.empty():
                results.append(queue.get_nowait())
            free += len(results)
            startable = 0 if stopping else bucket.take(min(free, len(self.backlog)))
            start = [self.backlog.popleft() for _ in range(startable)]
            if results or start:
                await self._record(results, start)
                await self.editions.watch_errors(results)
                if self.progress is not None:
                    self.progress(self.summary)
            if stopping:
                continue
            if not start and not self.outstanding and self.backlog:
                # The rate limit holds everything back: sleep until the next token.
                try:
                    await asyncio.wait_for(self.stop.wait(), timeout=max(bucket.wait_time(), 0.001))
                except TimeoutError:
                    pass
                continue
            if time.monotonic() >= self._recover_after:
                await self._recover()
            if len(self.backlog) < 2 * self.width and time.monotonic() >= self._claim_after:
                await self._claim()
            elif self.wake.is_set() or time.monotonic() >= self._notices_after:
                # Busy with an edition: due notices still go first, at least every poll.
                await self._claim_notices()
            if self.outstanding == 0 and not self.backlog:
                if not await self._idle():
                    return

    async def _idle(self) -> bool:
        """Nothing to send right now: wait for work; False when the worker should end."""
        self._claim_after = 0.0
        if await self._claim():
            return True
        self.batches.close()  # the work in hand is done: its batch line
        poll = self.delivery.poll_seconds
        due = await self.db.read(self._next_due_tx)
        now = self.clock()
        wait = poll if due is None else min(poll, max(0.0, (due - now).total_seconds()))
        # With a fixed clock nothing becomes due by waiting.
        if self.until_idle and (
            due is None or self.fixed_clock or (due - now).total_seconds() > poll
        ):
            return False
        await self._sleep(max(wait, 0.05))
        return True

    def _next_due_tx(self, conn: Connection) -> datetime | None:
        times = [notice_store.next_due(conn)]
        if not self.notices_only:
            times.append(store.next_due(conn))
        return min((t for t in times if t is not None), default=None)

    async def _sleep(self, timeout: float) -> None:
        """Until ``timeout`` passes, the worker is told to stop, or the mail bell rings."""
        waiters = [asyncio.ensure_future(event.wait()) for event in (self.stop, self.wake)]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    # claiming

    async def _claim(self) -> int:
        """Top up the backlog, due notices first; completes editions with nothing left."""
        claimed = await self._claim_notices()
        if not self.notices_only:
            editions = await self.editions.claim(limit=self.want)
            self.batches.claimed(editions)
            claimed += editions
        if not claimed:
            self._claim_after = time.monotonic() + self.delivery.poll_seconds
        return claimed

    async def _claim_notices(self) -> int:
        self.wake.clear()
        self._notices_after = time.monotonic() + self.delivery.poll_seconds
        notices = await self.db.transaction(
            notice_store.claim_notices, worker_id=self.id, limit=self.want, now=self.clock()
        )
        # At the front: the next free connections take them.
        self.backlog.extendleft(reversed(notices))
        self.batches.claimed(len(notices))
        return len(notices)

    async def _give_back(self, items: list[Claimed]) -> None:
        """Release claims not sent, and take them out of the backlog."""
        ids = {id(item) for item in items}
        kept = [item for item in self.backlog if id(item) not in ids]
        self.backlog.clear()
        self.backlog.extend(kept)
        await self.db.transaction(release, items, worker_id=self.id)


async def run_worker(
    ctx: AppContext,
    /,
    *,
    stop: asyncio.Event | None = None,
    until_idle: bool = False,
    notices_only: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> WorkerSummary:
    """Deliver queued editions and notices until ``stop`` is set (or, with ``until_idle``, until nothing is due).

    With ``until_idle`` the worker ends once nothing is queued and nothing deferred is
    due within ``delivery.poll_seconds``; later retries are left to a running worker.
    ``notices_only`` leaves editions alone. ``now`` fixes the clock the queues are read
    and written with (what is due, retry times; heartbeats keep the real clock); with
    it, ``until_idle`` ends as soon as nothing is due at ``now``. ``progress`` is called
    with the running summary after every batch of outcomes.
    """
    worker = _Worker(
        ctx,
        stop=stop or asyncio.Event(),
        until_idle=until_idle,
        notices_only=notices_only,
        now=now,
        progress=progress,
    )
    return await worker.run()


async def deliver_notices(ctx: AppContext, /, *, now: datetime | None = None) -> int:
    """Send the notice mails due now and return how many were sent: one worker run, notices only, until idle.

    A relay that is down defers them (retried with the notice backoff); a permanent
    refusal fails that notice only.
    """
    summary = await run_worker(ctx, until_idle=True, notices_only=True, now=now)
    return summary.notices.sent

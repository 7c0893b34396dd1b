"""The send step: queue an edition's deliveries, deliver them with workers, recover after a crash.

A worker claims batches of deliveries, keeps a pool of SMTP connections busy and
records outcomes in bulk. Its one invariant: a delivery is ``sending`` in the database
exactly while its message may be on the wire — a row is marked ``sending`` (in the
same transaction that records earlier outcomes) only when a connection is free to
take it, and its outcome is written only after the relay answered (style rule 7).
So after a crash the dead worker's ``sending`` rows, at most one per connection, are
the only deliveries whose fate is unknown; everything else is retried or final.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection

from mailer.context import AppContext
from mailer.errors import (
    DeliveryError,
    InvalidInputError,
    LostReply,
    NotFoundError,
    RefusedAt,
    TransportError,
)
from mailer.mail.compose import smtp_address
from mailer.mail.pool import SmtpPool
from mailer.mail.prepared import (
    PreparedEdition,
    Recipient,
    needs_smtputf8,
    personalise,
    prepare_edition,
)
from mailer.models import DeliveryCounts, DeliveryState, EditionState
from mailer.store import deliveries as store

log = logging.getLogger("mailer.send")

#: Subscribers per INSERT … SELECT when queueing (keyset batches, short transactions).
QUEUE_BATCH = 5000
#: RFC 5321 codes that say the mailbox does not exist: the address is suppressed.
HARD_BOUNCE_CODES = frozenset({550, 551, 553})


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- queueing and staff commands ------------------------------------------------------------


def _edition(conn: Connection, edition_id: int) -> dict:
    edition = store.get_edition(conn, edition_id)
    if edition is None:
        raise NotFoundError("edition", edition_id)
    return edition


def queue_edition(ctx: AppContext, edition_id: int, /) -> int:
    """Insert one delivery per active subscriber and move the edition draft → queued.

    Returns how many deliveries were queued; 0 when the edition was queued already.
    Subscribers are inserted in keyset batches by the database itself, so the list
    never sits in memory; a crash midway leaves the edition a draft, and queueing it
    again fills in the rest (one row per (edition, subscriber) is unique).
    """
    with ctx.engine.begin() as conn:
        edition = _edition(conn, edition_id)
    if edition["state"] != EditionState.DRAFT:
        return 0
    # Refuse an edition that cannot be turned into mail before any row exists.
    prepare_edition(ctx.settings, edition)
    total, after = 0, 0
    while True:
        with ctx.engine.begin() as conn:
            inserted, upper = store.queue_batch(
                conn, edition_id, after_id=after, limit=QUEUE_BATCH, now=utcnow()
            )
        total += inserted
        if upper is None:
            break
        after = upper
    with ctx.engine.begin() as conn:
        store.mark_edition_queued(conn, edition_id, now=utcnow())
    return total


def delivery_counts(ctx: AppContext, edition_id: int, /) -> DeliveryCounts:
    """How many deliveries of the edition are in each state."""
    with ctx.engine.connect() as conn:
        _edition(conn, edition_id)
        return DeliveryCounts(by_state=store.counts_by_state(conn, edition_id))


def resume_edition(ctx: AppContext, edition_id: int, /) -> int:
    """Continue a paused edition; its deferred deliveries are due at once. Returns how many."""
    with ctx.engine.begin() as conn:
        edition = _edition(conn, edition_id)
        due = store.resume_edition(conn, edition_id, now=utcnow())
    if due is None:
        raise InvalidInputError(
            f"edition {edition['number']} is {edition['state']}, not paused", field="edition"
        )
    return due


def resend_unknown(ctx: AppContext, edition_id: int, /) -> int:
    """Queue again the deliveries whose outcome is unknown — on purpose: a duplicate is possible.

    They keep their Message-ID, so a receiving system that saw the first copy can
    tell the two apart.
    """
    with ctx.engine.begin() as conn:
        _edition(conn, edition_id)
        return store.requeue_unknown(conn, edition_id, now=utcnow())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def recover_in_flight(ctx: AppContext, /, *, now: datetime | None = None) -> store.Recovery:
    """Deliveries a dead worker had in flight become unknown; its other claims are released."""
    with ctx.engine.begin() as conn:
        return store.recover_dead_workers(
            conn,
            now=now or utcnow(),
            stale_after=ctx.settings.delivery.stale_after,
            host=_host(),
            pid_alive=_pid_alive,
        )


def _host() -> str:
    return socket.gethostname()[:60]


def new_worker_id() -> str:
    """host:pid:random — the host and pid let a worker on the same host see a dead one at once."""
    return f"{_host()}:{os.getpid()}:{secrets.token_hex(4)}"


# -- the worker -----------------------------------------------------------------------------


@dataclass
class WorkerSummary:
    """What one run of a worker did."""

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
    elapsed: float = 0.0

    @property
    def attempted(self) -> int:
        return self.sent + self.deferred + self.failed + self.unknown

    def add(self, state: DeliveryState) -> None:
        name = str(state)
        setattr(self, name, getattr(self, name) + 1)


@dataclass
class _Result:
    item: store.ClaimedDelivery
    reply: str | None = None
    error: Exception | None = None
    started_at: datetime | None = None


class _Worker:
    """One worker run: a database thread, a sender task per SMTP connection, and the loop tying them."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        stop: asyncio.Event,
        until_idle: bool,
        progress: Callable[[WorkerSummary], Any] | None,
    ) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.delivery = ctx.settings.delivery
        self.stop = stop
        self.until_idle = until_idle
        self.progress = progress
        self.id = new_worker_id()
        self.summary = WorkerSummary(worker_id=self.id)
        self.pool = SmtpPool(ctx.settings.smtp)
        self.width = len(self.pool.connections)
        # One thread owns this worker's database connection: writes stay in order and
        # never wait for each other inside the process.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="mailer-send-db")
        self._conn: Connection | None = None
        self.backlog: deque[store.ClaimedDelivery] = deque()
        self.prepared: dict[int, PreparedEdition] = {}
        self.numbers: dict[int, int] = {}
        self.windows: dict[int, deque[bool]] = {}
        self.last_transport_error: dict[int, str] = {}
        self.outstanding = 0
        self.ready: asyncio.Queue[store.ClaimedDelivery | None] = asyncio.Queue()
        self.results: asyncio.Queue[_Result] = asyncio.Queue()
        self._claim_after = 0.0  # monotonic time before which an empty claim is not repeated
        self._recover_after = 0.0

    # database access, always on the worker's own thread

    def _in_transaction(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._conn is None:
            self._conn = self.ctx.engine.connect()
        try:
            with self._conn.begin():
                return fn(self._conn, *args, **kwargs)
        except Exception:
            # A broken connection is replaced on the next call.
            self._conn.invalidate()
            self._conn.close()
            self._conn = None
            raise

    async def _db(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, partial(self._in_transaction, fn, *args, **kwargs)
        )

    # lifecycle

    async def run(self) -> WorkerSummary:
        started = time.monotonic()
        await self._db(store.register_worker, self.id, host=_host(), pid=os.getpid(), now=utcnow())
        senders: list[asyncio.Task] = []
        heartbeat: asyncio.Task | None = None
        try:
            await self._recover()
            heartbeat = asyncio.create_task(self._heartbeat())
            senders = [asyncio.create_task(self._sender(c)) for c in self.pool.connections]
            await self._loop()
        finally:
            for _ in senders:
                self.ready.put_nowait(None)
            if senders:
                await asyncio.gather(*senders, return_exceptions=True)
            if heartbeat is not None:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
            await self.pool.close()
            try:
                await self._close_books()
            except Exception:  # noqa: BLE001 — the next worker's recovery closes them instead
                log.exception("worker %s could not close its books", self.id)
            finally:
                if self._conn is not None:
                    await asyncio.get_running_loop().run_in_executor(
                        self._executor, self._conn.close
                    )
                self._executor.shutdown(wait=True)
            self.summary.elapsed = time.monotonic() - started
        return self.summary

    async def _close_books(self) -> None:
        """On a clean stop: record what came back, give back unsent claims, leave the registry."""
        leftovers = []
        while not self.results.empty():
            leftovers.append(self.results.get_nowait())
        if leftovers:
            await self._db(self._tick_tx, [self._outcome(r) for r in leftovers], [])
        backlog = [item.id for item in self.backlog]
        self.backlog.clear()
        if backlog:
            await self._db(store.release_claims, backlog, worker_id=self.id)
        await self._db(store.unregister_worker, self.id)

    async def _heartbeat(self) -> None:
        engine = self.ctx.engine
        while True:
            await asyncio.sleep(self.delivery.heartbeat_seconds)

            def beat() -> bool:
                with engine.begin() as conn:
                    return store.beat(conn, self.id, host=_host(), pid=os.getpid(), now=utcnow())

            try:
                if not await asyncio.to_thread(beat):
                    log.warning("worker %s had been judged dead; registered again", self.id)
            except Exception:  # noqa: BLE001 — a missed beat is retried; sending goes on
                log.exception("worker heartbeat failed")

    async def _recover(self) -> None:
        recovery = await self._db(
            store.recover_dead_workers,
            now=utcnow(),
            stale_after=self.delivery.stale_after,
            host=_host(),
            pid_alive=_pid_alive,
        )
        self._recover_after = time.monotonic() + self.delivery.stale_after / 2
        if recovery.workers:
            log.warning(
                "workers %s stopped without closing their books: %d in-flight deliveries "
                "marked unknown, %d claims released",
                ", ".join(recovery.workers),
                recovery.unknown,
                recovery.released,
            )
        self.summary.recovered_unknown += recovery.unknown

    # sending

    async def _sender(self, connection) -> None:
        while True:
            item = await self.ready.get()
            if item is None:
                return
            result = _Result(item=item, started_at=utcnow())
            try:
                prepared = self.prepared[item.edition_id]
                recipient = Recipient(item.subscriber_id, item.email, item.name, item.token)
                data = personalise(prepared, recipient)
                result.reply = await connection.deliver(
                    data,
                    sender=prepared.sender,
                    recipient=smtp_address(item.email),
                    utf8=needs_smtputf8(recipient),
                )
            except Exception as exc:  # noqa: BLE001 — every failure becomes this delivery's outcome
                result.error = exc
            self.results.put_nowait(result)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter (RFC 5321 §4.5.4.1 asks senders to space retries)."""
        delay = min(self.delivery.backoff_max, self.delivery.backoff_base * 2 ** (attempt - 1))
        return delay * random.uniform(0.5, 1.0)

    def _outcome(self, result: _Result) -> store.Outcome:
        item, error = result.item, result.error
        if error is None:
            code = int(result.reply.split(" ", 1)[0]) if result.reply else 250
            return store.Outcome(item.id, DeliveryState.SENT, code=code)
        if isinstance(error, LostReply):
            return store.Outcome(item.id, DeliveryState.UNKNOWN, error=str(error))
        if not isinstance(error, DeliveryError):
            log.error("unexpected error sending delivery %s", item.id, exc_info=error)
            error = DeliveryError(
                f"internal error: {error.__class__.__name__}: {error}", temporary=True
            )
        if not error.temporary:
            outcome = store.Outcome(
                item.id, DeliveryState.FAILED, code=error.code, error=str(error)
            )
            if (
                isinstance(error, RefusedAt)
                and error.stage == "RCPT"
                and error.code in HARD_BOUNCE_CODES
            ):
                outcome.bounce_subscriber_id = item.subscriber_id
                outcome.bounce_email = item.email
            return outcome
        now = utcnow()
        first = item.first_attempt_at or result.started_at or now
        deadline = first + timedelta(seconds=self.delivery.retry_for)
        if now >= deadline:
            return store.Outcome(
                item.id,
                DeliveryState.FAILED,
                code=error.code,
                error=f"gave up after {item.attempts + 1} attempts: {error}",
            )
        retry_at = min(now + timedelta(seconds=self._backoff(item.attempts + 1)), deadline)
        return store.Outcome(
            item.id,
            DeliveryState.DEFERRED,
            code=error.code,
            error=str(error),
            next_attempt_at=retry_at,
        )

    @staticmethod
    def _is_transport_failure(result: _Result) -> bool:
        """Failures that say the relay is unusable rather than something about one recipient."""
        error = result.error
        # A MAIL refusal of an SMTPUTF8 transaction is about this recipient's address
        # (RFC 6531 §3.4), not the relay: it must not count towards pausing the edition.
        return isinstance(error, TransportError) or (
            isinstance(error, RefusedAt) and error.stage == "MAIL" and not error.smtputf8
        )

    def _tick_tx(
        self, conn: Connection, outcomes: list[store.Outcome], start: list[int]
    ) -> set[int]:
        now = utcnow()
        if outcomes:
            store.record_outcomes(conn, outcomes, worker_id=self.id, now=now)
        return store.start_sending(conn, start, worker_id=self.id, now=now) if start else set()

    async def _loop(self) -> None:
        bucket = self.pool.bucket
        while True:
            stopping = self.stop.is_set()
            if stopping and self.outstanding == 0:
                return
            free = self.width - self.outstanding
            startable = 0 if stopping else min(free, len(self.backlog))
            results: list[_Result] = []
            if self.outstanding and (startable == 0 or bucket.wait_time() > 0):
                # Nothing can start now: wait for a connection to come back (or a token).
                timeout = bucket.wait_time() if startable else None
                try:
                    results.append(await asyncio.wait_for(self.results.get(), timeout))
                except TimeoutError:
                    pass
            while not self.results.empty():
                results.append(self.results.get_nowait())
            free += len(results)
            startable = 0 if stopping else bucket.take(min(free, len(self.backlog)))
            start = [self.backlog.popleft() for _ in range(startable)]
            if results or start:
                outcomes = [self._outcome(r) for r in results]
                held = await self._db(self._tick_tx, outcomes, [item.id for item in start])
                self.outstanding += len(held) - len(results)
                for item in start:
                    if item.id in held:
                        self.ready.put_nowait(item)
                for outcome in outcomes:
                    self.summary.add(outcome.state)
                await self._watch_errors(results)
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
            if self.outstanding == 0 and not self.backlog:
                if not await self._idle():
                    return

    async def _idle(self) -> bool:
        """Nothing to send right now: wait for work; False when the worker should end."""
        self._claim_after = 0.0
        if await self._claim():
            return True
        poll = self.delivery.poll_seconds
        due = await self._db(store.next_due)
        wait = poll
        if due is not None:
            wait = min(poll, max(0.0, (due - utcnow()).total_seconds()))
        if self.until_idle and (due is None or (due - utcnow()).total_seconds() > poll):
            return False
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=max(wait, 0.05))
        except TimeoutError:
            pass
        return True

    async def _claim(self) -> int:
        """Top up the backlog from the sendable editions; completes editions with nothing left."""
        editions = await self._db(store.sendable_editions)
        sendable = set(editions)
        stale = [item for item in self.backlog if item.edition_id not in sendable]
        if stale:
            # Another worker paused that edition: give the rows back unsent.
            self.backlog = deque(item for item in self.backlog if item.edition_id in sendable)
            await self._db(store.release_claims, [item.id for item in stale], worker_id=self.id)
        claimed = 0
        want = max(self.delivery.batch_size, 2 * self.width)
        for edition_id in editions:
            if edition_id not in self.prepared and not await self._prepare(edition_id):
                continue
            batch = await self._db(
                store.claim_batch,
                worker_id=self.id,
                edition_id=edition_id,
                limit=want - claimed,
                now=utcnow(),
            )
            self.summary.skipped += batch.skipped
            if batch.claimed or batch.skipped:
                await self._db(store.mark_edition_sending, edition_id)
            self.backlog.extend(batch.claimed)
            claimed += len(batch.claimed)
            if (
                not batch.claimed
                and not batch.skipped
                and not any(item.edition_id == edition_id for item in self.backlog)
            ):
                if await self._db(store.finish_edition_if_done, edition_id, now=utcnow()):
                    self.summary.completed_editions.append(edition_id)
                    log.info("edition %s is complete", self.numbers.get(edition_id, edition_id))
            if claimed >= want:
                break
        if not claimed:
            self._claim_after = time.monotonic() + self.delivery.poll_seconds
        return claimed

    async def _prepare(self, edition_id: int) -> bool:
        edition = await self._db(store.get_edition, edition_id)
        if edition is None:
            return False
        self.numbers[edition_id] = edition["number"]
        try:
            self.prepared[edition_id] = prepare_edition(self.settings, edition)
        except DeliveryError as exc:
            await self._pause(edition_id, f"cannot build the mail: {exc}")
            return False
        return True

    async def _watch_errors(self, results: list[_Result]) -> None:
        """Pause an edition when too many of its recent attempts failed for transport reasons."""
        window_size = self.delivery.pause_window
        for result in results:
            edition_id = result.item.edition_id
            window = self.windows.setdefault(edition_id, deque(maxlen=window_size))
            transport = self._is_transport_failure(result)
            window.append(transport)
            if transport:
                self.last_transport_error[edition_id] = str(result.error)
        for edition_id, window in list(self.windows.items()):
            if len(window) < window_size:
                continue
            failures = sum(window)
            if failures / len(window) > self.delivery.pause_error_rate:
                reason = (
                    f"paused: {failures} of the last {len(window)} attempts failed for transport "
                    f"reasons (last: {self.last_transport_error.get(edition_id, '?')})"
                )
                await self._pause(edition_id, reason)

    async def _pause(self, edition_id: int, reason: str) -> None:
        number = self.numbers.get(edition_id, edition_id)
        reason = f"{reason}; fix the cause, then run `mailer digest resume {number}`"
        if await self._db(store.pause_edition, edition_id, reason=reason):
            log.warning("edition %s %s", number, reason)
        self.summary.paused[edition_id] = reason
        self.windows.pop(edition_id, None)
        mine = [item for item in self.backlog if item.edition_id == edition_id]
        if mine:
            self.backlog = deque(item for item in self.backlog if item.edition_id != edition_id)
            await self._db(store.release_claims, [item.id for item in mine], worker_id=self.id)


async def run_worker(
    ctx: AppContext,
    /,
    *,
    stop: asyncio.Event | None = None,
    until_idle: bool = False,
    progress: Callable[[WorkerSummary], Any] | None = None,
) -> WorkerSummary:
    """Deliver queued editions until ``stop`` is set (or, with ``until_idle``, until nothing is due).

    With ``until_idle`` the worker ends once nothing is queued and no deferred delivery
    is due within ``delivery.poll_seconds``; later retries are left to a running worker.
    ``progress`` is called with the running summary after every batch of outcomes.
    """
    worker = _Worker(ctx, stop=stop or asyncio.Event(), until_idle=until_idle, progress=progress)
    return await worker.run()

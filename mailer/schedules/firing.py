"""Handle a schedule's due fire times exactly once: claim, run the job, record how it ended.

Several schedulers may run at once, on one machine or many (issue 6):

* Exactly once: before a job runs, its fire time is claimed by inserting the run row
  keyed by (schedule, fire time); the process whose insert wins runs it, the others
  do nothing. Every fire time ends as ``ran``, ``failed`` or ``skipped`` with a reason.
* Downtime: at start-up the fire times since the last recorded run (or the last edit)
  are found; the latest runs if it is within the schedule's grace, the others are
  recorded as skipped with the reason (:mod:`mailer.schedules.fire_times` decides).
* A database that is away is waited out: a fire time is never lost, only judged
  late against its grace when the claim finally goes through.

Time comes from an injectable clock, so tests decide what "now" is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from mailer.errors import InvalidInputError, JobSkipped
from mailer.schedules.crontab import trigger_for
from mailer.schedules.fire_times import MISSED_RECORD_LIMIT, decide, format_local, missed_fire_times
from mailer.schedules.job_run import JobRun, JobTable
from mailer.store import schedules as store
from mailer.store.db import write_transaction

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext

log = logging.getLogger("mailer.schedules")

Clock = Callable[[], datetime]

#: Outcome of a fire time that another scheduler process had already claimed or recorded.
TAKEN = "taken"

#: Reasons recorded when several fire times came due at once.
CAUSE_MISSED = "missed while no scheduler ran"
CAUSE_LATE = "fired late"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunOutcome:
    """What this scheduler did with one fire time: ran, failed, skipped, or taken by another."""

    schedule: str
    fire_time: datetime
    outcome: str
    reason: str | None = None


class FireTimeHandler:
    """Claims and runs the fire times of one scheduler process (``instance``)."""

    def __init__(
        self, context: AppContext, /, *, jobs: JobTable, clock: Clock, instance: str
    ) -> None:
        self.context = context
        self.jobs = jobs
        self.clock = clock
        self.instance = instance
        self._locks: dict[str, asyncio.Lock] = {}

    async def fire(self, name: str, /, *fire_times: datetime) -> list[RunOutcome]:
        """Handle fire times of one schedule that are due now (APScheduler woke us for them)."""
        return await self._handle(name, list(fire_times), cause=CAUSE_LATE)

    async def catch_up(self, *, now: datetime | None = None) -> list[RunOutcome]:
        """Handle the fire times every enabled schedule had while no scheduler ran."""
        now = now or self.clock()
        rows = [
            row for row in await self.retrying(store.list_schedules, write=False) if row["enabled"]
        ]
        results = await asyncio.gather(*(self._catch_up_one(row, now) for row in rows))
        return [outcome for outcomes in results for outcome in outcomes]

    async def _catch_up_one(self, row: dict, now: datetime) -> list[RunOutcome]:
        name = row["name"]
        try:
            last = await self.retrying(lambda conn: store.last_fire_time(conn, name), write=False)
            # Cron arithmetic, not database work: a long downtime walks up to
            # MISSED_RECORD_LIMIT fire times, which must not hold up the event loop,
            # nor the database thread that the other schedules' claims queue on.
            missed = await asyncio.to_thread(missed_fire_times, row, last_recorded=last, now=now)
        except InvalidInputError as exc:
            log.error("schedule %s cannot catch up: %s", name, exc)
            return []
        outcomes = []
        if missed.summary_from is not None:
            zone = trigger_for(row).timezone
            reason = (
                f"{CAUSE_MISSED}: more than {MISSED_RECORD_LIMIT} fire times from "
                f"{format_local(missed.summary_from, zone)} until before "
                f"{format_local(missed.times[0], zone)} skipped "
                "(recorded as this one entry)"
            )
            outcomes.append(await self._record_skip(name, missed.summary_from, reason))
        if missed.times:
            log.warning("schedule %s missed %d fire time(s)", name, len(missed.times))
            outcomes += await self._handle(name, missed.times, cause=CAUSE_MISSED)
        return outcomes

    async def _handle(
        self, name: str, fire_times: list[datetime], *, cause: str
    ) -> list[RunOutcome]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            claimed, outcomes = await self.retrying(
                lambda conn: self._claim(conn, name, fire_times, self.clock(), cause)
            )
            if claimed is not None:
                schedule, fire_time = claimed
                outcomes.append(await self._run(schedule, fire_time))
            return outcomes

    def _claim(
        self, conn: Connection, name: str, fire_times: list[datetime], now: datetime, cause: str
    ) -> tuple[tuple[dict, datetime] | None, list[RunOutcome]]:
        """In one transaction: re-read the schedule, decide, record skips, claim the one to run."""
        schedule = store.get_schedule(conn, name)
        claimed = None
        outcomes = []
        for decision in decide(schedule, fire_times, now=now, cause=cause):
            moment = decision.fire_time
            if decision.run:
                if store.claim_run(conn, name, moment, instance=self.instance, now=now):
                    claimed = (schedule, moment)
                else:
                    log.info("schedule %s: %s was claimed by another scheduler", name, moment)
                    outcomes.append(RunOutcome(name, moment, TAKEN))
                continue
            recorded = store.record_run(
                conn,
                name,
                moment,
                outcome=store.SKIPPED,
                reason=decision.reason or "",
                instance=self.instance,
                now=now,
            )
            if recorded:
                log.warning("schedule %s: fire time %s skipped: %s", name, moment, decision.reason)
            outcomes.append(
                RunOutcome(name, moment, store.SKIPPED if recorded else TAKEN, decision.reason)
            )
        return claimed, outcomes

    async def _record_skip(self, name: str, moment: datetime, reason: str) -> RunOutcome:
        def record(conn: Connection) -> bool:
            return store.record_run(
                conn,
                name,
                moment,
                outcome=store.SKIPPED,
                reason=reason,
                instance=self.instance,
                now=self.clock(),
            )

        recorded = await self.in_transaction(record)
        return RunOutcome(name, moment, store.SKIPPED if recorded else TAKEN, reason)

    async def _run(self, schedule: dict, fire_time: datetime) -> RunOutcome:
        """Run the claimed fire time's job and record how it ended."""
        name, kind = schedule["name"], schedule["kind"]
        job = self.jobs.get(kind)
        run = JobRun(
            context=self.context,
            schedule=name,
            fire_time=fire_time.astimezone(UTC),
            instance=self.instance,
            clock=self.clock,
        )
        log.info("schedule %s: running %s for %s", name, kind, fire_time)
        try:
            if job is None:
                known = ", ".join(sorted(self.jobs)) or "none"
                raise LookupError(f"no job for kind {kind!r} in this version (known: {known})")
            outcome, reason = store.RAN, await job(run)
        except JobSkipped as exc:
            outcome, reason = store.SKIPPED, str(exc)
        except asyncio.CancelledError:
            # Recorded synchronously: this task is being cancelled and may not await again.
            with write_transaction(self.context.engine) as conn:
                self._finish(
                    conn, name, fire_time, store.FAILED, "interrupted: the scheduler stopped"
                )
            raise
        except Exception as exc:
            log.exception("schedule %s: %s job failed", name, kind)
            outcome, reason = store.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        await self.retrying(lambda conn: self._finish(conn, name, fire_time, outcome, reason))
        log.info("schedule %s: %s for %s: %s", name, outcome, fire_time, reason)
        return RunOutcome(name, fire_time, outcome, reason)

    def _finish(
        self, conn: Connection, name: str, fire_time: datetime, outcome: str, reason: str | None
    ) -> None:
        store.finish_run(
            conn,
            name,
            fire_time,
            instance=self.instance,
            outcome=outcome,
            reason=reason,
            now=self.clock(),
        )

    # ------------------------------------------------------------------ database

    async def in_transaction(
        self, work: Callable[..., Any], /, *args: Any, write: bool = True
    ) -> Any:
        """Run ``work(conn, *args)`` in one transaction off the event loop (``write=False``: a read).

        A SQLite writer can wait seconds for the lock; the web server sharing this loop
        must not wait with it. Reads never take the lock (store.db).
        """

        def transaction() -> Any:
            if not write:
                with self.context.engine.connect() as conn:
                    return work(conn, *args)
            with write_transaction(self.context.engine) as conn:
                return work(conn, *args)

        return await self.context.database.run(transaction)

    async def retrying(self, work: Callable[[Connection], Any], /, *, write: bool = True) -> Any:
        """Like :meth:`in_transaction`, but wait out a database that is away instead of
        losing the fire time.

        A claim retried late is still judged against the schedule's grace when it
        finally goes through, so waiting can only turn a run into a recorded skip.
        """
        failures = 0
        while True:
            try:
                return await self.in_transaction(work, write=write)
            except SQLAlchemyError as exc:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "database unavailable (%s); retrying", exc.__class__.__name__)
                await asyncio.sleep(self.context.settings.scheduler.reload_seconds)

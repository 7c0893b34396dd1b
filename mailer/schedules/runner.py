"""The running scheduler: APScheduler jobs kept in step with the schedules table, each fire time once.

One :class:`Scheduler` runs inside an existing asyncio loop (``mailer serve`` or
``mailer scheduler``); several may run at once, on one machine or many (issue 6):

* The ``schedules`` table is the source of truth. It is re-read every
  ``scheduler.reload_seconds`` and APScheduler jobs are added, changed or removed to
  match, so staff edits take effect without a restart.
* Exactly once: before a job runs, its fire time is claimed by inserting the run row
  keyed by (schedule, fire time); the process whose insert wins runs it, the others
  do nothing. Every fire time ends as ``ran``, ``failed`` or ``skipped`` with a reason.
* Downtime: at start-up the fire times since the last recorded run (or the last edit)
  are found; the latest runs if it is within the schedule's grace, the others are
  recorded as skipped with the reason.
* Liveness: a heartbeat row every ``scheduler.heartbeat_seconds``; claims left
  ``running`` by a process that stopped beating are recorded as failed.

Time comes from an injectable clock, so tests decide what "now" is; APScheduler only
decides *when* to wake up.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import SQLAlchemyError

from mailer.context import AppContext
from mailer.errors import InvalidInputError, JobSkipped
from mailer.jobs import JOBS, JobFunction, JobRun
from mailer.schedules.edit import (
    MISSED_RECORD_LIMIT,
    SCHEDULER_ROLE,
    decide,
    first_fire_time_after,
    format_local,
    missed_fire_times,
    trigger_for,
)
from mailer.store import heartbeats as heartbeat_store
from mailer.store import schedules as store

log = logging.getLogger("mailer.scheduler")

Clock = Callable[[], datetime]

#: Outcome of a fire time that another scheduler process had already claimed or recorded.
TAKEN = "taken"

#: Reasons recorded when several fire times came due at once.
CAUSE_MISSED = "missed while no scheduler ran"
CAUSE_LATE = "fired late"

#: Heartbeat rows of processes silent this long are deleted.
HEARTBEAT_RETENTION = timedelta(days=7)


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_instance_id() -> str:
    """host:pid:random — unique per process start, readable in `schedules list` and logs."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunOutcome:
    """What this scheduler did with one fire time: ran, failed, skipped, or taken by another."""

    schedule: str
    fire_time: datetime
    outcome: str
    reason: str | None = None


class FireTimeExecutor(BaseExecutor):
    """An APScheduler executor that passes a job its due fire times.

    APScheduler's own executors call the job function without saying which scheduled
    time the call is for; here the fire time is the key of exactly-once, so the job
    function gets it as arguments: ``func(*args, *run_times)``.
    """

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._loop = asyncio.get_running_loop()
        self.tasks: set[asyncio.Task] = set()

    def shutdown(self, wait: bool = True) -> None:
        """Running fire times are awaited (or interrupted) by :meth:`Scheduler.stop`."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        task = self._loop.create_task(job.func(*job.args, *run_times))
        self.tasks.add(task)
        task.add_done_callback(functools.partial(self._finished, job.id))

    def _finished(self, job_id: str, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is None:
            self._run_job_success(job_id, [])
        else:
            self._run_job_error(job_id, error, error.__traceback__)


class Scheduler:
    """One scheduler process's engine; ``start()`` inside a running loop, ``stop()`` to end."""

    def __init__(
        self,
        context: AppContext,
        /,
        *,
        jobs: Mapping[str, JobFunction] | None = None,
        clock: Clock = utc_now,
        instance: str | None = None,
    ) -> None:
        self.context = context
        self.settings = context.settings.scheduler
        self.jobs = JOBS if jobs is None else jobs
        self.clock = clock
        self.instance = instance or new_instance_id()
        self.started_at: datetime | None = None
        self._apscheduler: AsyncIOScheduler | None = None
        self._executor: FireTimeExecutor | None = None
        #: name → (kind, cron, timezone, enabled) as last applied to APScheduler.
        self._applied: dict[str, tuple] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._loops: set[asyncio.Task] = set()
        self._work: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Beat, load the schedules into APScheduler, catch up on missed fire times, keep in step."""
        now = self.clock()
        self.started_at = now
        await self.beat()
        rows = await self._db(_read_schedules)
        self._executor = FireTimeExecutor()
        self._apscheduler = AsyncIOScheduler(
            timezone=UTC,
            executors={"default": self._executor},
            job_defaults={
                # Every due fire time reaches fire(): coalescing and misfire handling are
                # ours (decide()), and concurrency per schedule is serialised by a lock.
                "coalesce": False,
                "misfire_grace_time": None,
                "max_instances": 1_000_000,
            },
        )
        self._apscheduler.start()
        # Fire times up to `now` belong to catch-up; APScheduler takes those after it.
        self._apply(rows, since=lambda row: now)
        self._spawn_work(self.catch_up(now=now))
        self._spawn_loop(self.settings.reload_seconds, self.reload)
        self._spawn_loop(self.settings.heartbeat_seconds, self.beat)
        log.info("scheduler %s started with %d schedule(s)", self.instance, len(rows))

    async def stop(self) -> None:
        """Stop firing, let running jobs finish (up to stop_timeout), then forget the heartbeat."""
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()
        if self._apscheduler is not None and self._apscheduler.running:
            self._apscheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the next loop iteration
        running = self._work | (self._executor.tasks if self._executor else set())
        if running:
            _, pending = await asyncio.wait(running, timeout=self.settings.stop_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            await self._db(heartbeat_store.remove_heartbeat, self.instance)
        except SQLAlchemyError as exc:  # the row then simply goes stale
            log.warning("scheduler %s could not remove its heartbeat: %s", self.instance, exc)
        log.info("scheduler %s stopped", self.instance)

    def next_run_time(self, name: str) -> datetime | None:
        """When APScheduler will next fire schedule ``name`` in this process (None: not scheduled)."""
        job = self._apscheduler.get_job(name) if self._apscheduler else None
        return job.next_run_time if job else None

    # ------------------------------------------------------------------ keeping in step

    async def reload(self) -> None:
        """Re-read the schedules table and add, change or remove APScheduler jobs to match."""
        rows = await self._db(_read_schedules)
        now = self.clock()
        # A schedule edited a moment ago may have a fire time between the edit and this
        # reload; start from the edit (bounded, against a clock that is off) so it runs.
        lookback = now - timedelta(seconds=max(60.0, 3 * self.settings.reload_seconds))
        self._apply(rows, since=lambda row: max(min(row["updated_at"], now), lookback))

    def _apply(self, rows: list[dict], *, since: Callable[[dict], datetime]) -> None:
        assert self._apscheduler is not None
        seen = set()
        for row in rows:
            name = row["name"]
            seen.add(name)
            spec = (row["kind"], row["cron"], row["timezone"], row["enabled"])
            if self._applied.get(name) == spec:
                continue
            self._applied[name] = spec
            trigger = self._trigger(row)
            if trigger is None:
                self._unschedule(name)
                continue
            first = first_fire_time_after(trigger, since(row))
            self._apscheduler.add_job(
                self.fire,
                trigger=trigger,
                args=(name,),
                id=name,
                name=f"schedule {name}",
                next_run_time=first,
                replace_existing=True,
            )
            log.info("schedule %s: %r in %s, next %s", name, row["cron"], row["timezone"], first)
        for name in set(self._applied) - seen:
            del self._applied[name]
            self._unschedule(name)

    def _trigger(self, row: dict) -> CronTrigger | None:
        if not row["enabled"]:
            log.info("schedule %s is paused", row["name"])
            return None
        try:
            return trigger_for(row)
        except InvalidInputError as exc:
            log.error("schedule %s cannot run: %s", row["name"], exc)
            return None

    def _unschedule(self, name: str) -> None:
        assert self._apscheduler is not None
        if self._apscheduler.get_job(name) is not None:
            self._apscheduler.remove_job(name)

    # ------------------------------------------------------------------ firing

    async def fire(self, name: str, /, *fire_times: datetime) -> list[RunOutcome]:
        """Handle fire times of one schedule that are due now (APScheduler calls this)."""
        return await self._handle(name, list(fire_times), cause=CAUSE_LATE)

    async def catch_up(self, *, now: datetime | None = None) -> list[RunOutcome]:
        """Handle the fire times every enabled schedule had while no scheduler ran."""
        now = now or self.clock()
        rows = [row for row in await self._db_retrying(_read_schedules) if row["enabled"]]
        results = await asyncio.gather(*(self._catch_up_one(row, now) for row in rows))
        return [outcome for outcomes in results for outcome in outcomes]

    async def _catch_up_one(self, row: dict, now: datetime) -> list[RunOutcome]:
        name = row["name"]
        try:
            last = await self._db_retrying(lambda conn: store.last_fire_time(conn, name))
            missed = await asyncio.to_thread(missed_fire_times, row, last_recorded=last, now=now)
        except InvalidInputError as exc:
            log.error("schedule %s cannot catch up: %s", name, exc)
            return []
        outcomes = []
        if missed.summary_from is not None:
            reason = (
                f"{CAUSE_MISSED}: more than {MISSED_RECORD_LIMIT} fire times from "
                f"{format_local(missed.summary_from, trigger_for(row).timezone)} until before "
                f"{format_local(missed.times[0], trigger_for(row).timezone)} skipped "
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
            claimed, outcomes = await self._db_retrying(
                lambda conn: self._claim(conn, name, fire_times, self.clock(), cause)
            )
            if claimed is not None:
                schedule, fire_time = claimed
                outcomes.append(await self._run(schedule, fire_time))
            return outcomes

    def _claim(
        self, conn, name: str, fire_times: list[datetime], now: datetime, cause: str
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
        def record(conn) -> bool:
            return store.record_run(
                conn,
                name,
                moment,
                outcome=store.SKIPPED,
                reason=reason,
                instance=self.instance,
                now=self.clock(),
            )

        recorded = await self._db(record)
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
            with self.context.engine.begin() as conn:
                self._finish(
                    conn, name, fire_time, store.FAILED, "interrupted: the scheduler stopped"
                )
            raise
        except Exception as exc:
            log.exception("schedule %s: %s job failed", name, kind)
            outcome, reason = store.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        await self._db_retrying(lambda conn: self._finish(conn, name, fire_time, outcome, reason))
        log.info("schedule %s: %s for %s: %s", name, outcome, fire_time, reason)
        return RunOutcome(name, fire_time, outcome, reason)

    def _finish(
        self, conn, name: str, fire_time: datetime, outcome: str, reason: str | None
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

    # ------------------------------------------------------------------ liveness

    async def beat(self) -> None:
        """Record this process's heartbeat; fail claims of schedulers that stopped beating."""

        def work(conn) -> list[dict]:
            now = self.clock()
            heartbeat_store.record_heartbeat(
                conn,
                self.instance,
                role=SCHEDULER_ROLE,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=self.started_at or now,
                now=now,
            )
            heartbeat_store.prune_heartbeats(conn, before=now - HEARTBEAT_RETENTION)
            alive_since = now - timedelta(seconds=self.settings.stale_after)
            return store.fail_abandoned_runs(conn, alive_since=alive_since, now=now)

        for run in await self._db(work):
            log.warning(
                "schedule %s: the run for %s was interrupted (scheduler %s stopped)",
                run["schedule"],
                run["fire_time"],
                run["instance"],
            )

    # ------------------------------------------------------------------ plumbing

    async def _db(self, work: Callable[..., Any], *args: Any) -> Any:
        """Run ``work(conn, *args)`` in one transaction off the event loop.

        A SQLite writer can wait seconds for the lock; the web server sharing this loop
        must not wait with it.
        """

        def in_transaction() -> Any:
            with self.context.engine.begin() as conn:
                return work(conn, *args)

        return await asyncio.to_thread(in_transaction)

    async def _db_retrying(self, work: Callable[..., Any]) -> Any:
        """Like :meth:`_db`, but wait out a database that is away instead of losing the fire time.

        A claim retried late is still judged against the schedule's grace when it
        finally goes through, so waiting can only turn a run into a recorded skip.
        """
        failures = 0
        while True:
            try:
                return await self._db(work)
            except SQLAlchemyError as exc:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "database unavailable (%s); retrying", exc.__class__.__name__)
                await asyncio.sleep(self.settings.reload_seconds)

    def _spawn_work(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._work.add(task)
        task.add_done_callback(self._work_done)

    def _work_done(self, task: asyncio.Task) -> None:
        self._work.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("scheduler task failed", exc_info=task.exception())

    def _spawn_loop(self, seconds: float, step: Callable[[], Any]) -> None:
        async def every() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await step()
                except Exception:  # the database may be away for a while; keep trying
                    log.exception("scheduler %s failed", step.__name__)

        self._loops.add(asyncio.create_task(every()))


def _read_schedules(conn) -> list[dict]:
    return store.list_schedules(conn)

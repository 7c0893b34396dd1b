"""The running scheduler: APScheduler 3 jobs kept in step with the schedules table.

One :class:`Scheduler` runs inside an existing asyncio loop (``mailer serve`` or
``mailer scheduler``); several may run at once, on one machine or many (issue 6):

* The ``schedules`` table is the source of truth. It is re-read every
  ``scheduler.reload_seconds`` and APScheduler jobs are added, changed or removed to
  match, so staff edits take effect without a restart.
* APScheduler only decides *when* to wake up. Its job function does nothing; a
  listener for ``EVENT_JOB_SUBMITTED`` — whose event carries every due fire time,
  which a job function is never told — hands those times to
  :class:`~mailer.schedules.firing.FireTimeHandler`, which claims and runs each one
  exactly once. Only public APScheduler 3 API is used (``add_job`` with
  ``next_run_time``, ``add_listener``, ``JobSubmissionEvent.scheduled_run_times``).
* Liveness: a heartbeat row every ``scheduler.heartbeat_seconds``
  (:mod:`mailer.schedules.liveness`).

What each kind of schedule does is not known here: the job table comes in from the
entry point (``mailer.jobs.JOBS``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import SQLAlchemyError

from mailer.errors import InvalidInputError, StoreError
from mailer.schedules.crontab import trigger_for
from mailer.schedules.fire_times import first_fire_time_after
from mailer.schedules.firing import Clock, FireTimeHandler, RunOutcome, utc_now
from mailer.schedules.job_run import JobTable
from mailer.schedules.liveness import beat, forget_heartbeat
from mailer.store import db
from mailer.store import schedules as store

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext

log = logging.getLogger("mailer.schedules")


def new_instance_id() -> str:
    """host:pid:random — unique per process start, readable in `schedules list` and logs."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


async def _wake_up() -> None:
    """APScheduler's job function: the work starts in the submission listener instead."""


class Scheduler:
    """One scheduler process's engine; ``start()`` inside a running loop, ``stop()`` to end."""

    def __init__(
        self,
        context: AppContext,
        /,
        *,
        jobs: JobTable,
        clock: Clock = utc_now,
        instance: str | None = None,
    ) -> None:
        self.context = context
        self.settings = context.settings.scheduler
        self.clock = clock
        self.instance = instance or new_instance_id()
        self.started_at: datetime | None = None
        self.fire_times = FireTimeHandler(context, jobs=jobs, clock=clock, instance=self.instance)
        self._apscheduler: AsyncIOScheduler | None = None
        #: name → (kind, cron, timezone, enabled) as last applied to APScheduler.
        self._applied: dict[str, tuple] = {}
        self._loops: set[asyncio.Task] = set()
        self._work: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Beat, load the schedules into APScheduler, catch up on missed fire times, keep in step."""
        now = self.clock()
        self.started_at = now
        await self.beat()
        rows = await self.fire_times.in_transaction(store.list_schedules, write=False)
        self._apscheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                # Every due fire time reaches the listener: coalescing and misfire
                # handling are ours (fire_times.decide), and concurrency per schedule
                # is serialised by a lock in FireTimeHandler.
                "coalesce": False,
                "misfire_grace_time": None,
                "max_instances": 1_000_000,
            },
        )
        self._apscheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)
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
        if self._work:
            _, pending = await asyncio.wait(set(self._work), timeout=self.settings.stop_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            await self.fire_times.in_transaction(forget_heartbeat, self.instance)
        except SQLAlchemyError as exc:  # the row then simply goes stale
            log.warning("scheduler %s could not remove its heartbeat: %s", self.instance, exc)
        log.info("scheduler %s stopped", self.instance)

    def next_run_time(self, name: str) -> datetime | None:
        """When APScheduler will next fire schedule ``name`` in this process (None: not scheduled)."""
        job = self._apscheduler.get_job(name) if self._apscheduler else None
        return job.next_run_time if job else None

    # ------------------------------------------------------------------ firing

    async def fire(self, name: str, /, *fire_times: datetime) -> list[RunOutcome]:
        """Handle fire times of one schedule that are due now."""
        return await self.fire_times.fire(name, *fire_times)

    async def catch_up(self, *, now: datetime | None = None) -> list[RunOutcome]:
        """Handle the fire times every enabled schedule had while no scheduler ran."""
        return await self.fire_times.catch_up(now=now)

    def _submitted(self, event: JobSubmissionEvent) -> None:
        # AsyncIOScheduler processes due jobs on the loop's thread, so this listener
        # runs there too and may start a task.
        self._spawn_work(self.fire(event.job_id, *event.scheduled_run_times))

    # ------------------------------------------------------------------ keeping in step

    async def reload(self) -> None:
        """Re-read the schedules table and add, change or remove APScheduler jobs to match."""
        rows = await self.fire_times.in_transaction(store.list_schedules, write=False)
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
                _wake_up,
                trigger=trigger,
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

    # ------------------------------------------------------------------ liveness

    async def beat(self) -> None:
        """Record this process's heartbeat; fail claims of schedulers that stopped beating."""

        def work(conn) -> list[dict]:
            now = self.clock()
            return beat(
                conn,
                self.instance,
                started_at=self.started_at or now,
                now=now,
                stale_after=self.settings.stale_after,
            )

        for run in await self.fire_times.in_transaction(work):
            log.warning(
                "schedule %s: the run for %s was interrupted (scheduler %s stopped)",
                run["schedule"],
                run["fire_time"],
                run["instance"],
            )

    # ------------------------------------------------------------------ tasks

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


async def run_scheduler(context: AppContext, /, *, jobs: JobTable, until: asyncio.Event) -> None:
    """Run a scheduler until ``until`` is set, then stop it cleanly (jobs finish or are recorded).

    Refuses to start (StoreError) unless the database answers and its schema is current.
    """
    await context.database.run(db.check_database, context.engine)
    scheduler = Scheduler(context, jobs=jobs)
    await scheduler.start()
    try:
        await until.wait()
    finally:
        await scheduler.stop()


class SchedulerWhenReady:
    """A scheduler that starts at once if the database is ready, else as soon as it is.

    For ``mailer serve``: the web comes up even on a database being migrated, and
    /healthz reports why no scheduler runs until then. (``mailer scheduler`` alone
    refuses to start instead: see :func:`run_scheduler`.)
    """

    def __init__(self, context: AppContext, /, *, jobs: JobTable) -> None:
        self.engine = Scheduler(context, jobs=jobs)
        self.context = context
        self._task: asyncio.Task | None = None
        self._started = False

    async def begin(self) -> None:
        if await self._database_ready():
            await self._start()
            return
        self._task = asyncio.create_task(self._start_when_ready())
        self._task.add_done_callback(self._report)

    async def _database_ready(self) -> bool:
        try:
            await self.context.database.run(db.check_database, self.context.engine)
        except StoreError as exc:
            log.warning("the scheduler waits for the database: %s", exc)
            return False
        return True

    async def _start_when_ready(self) -> None:
        while True:
            await asyncio.sleep(self.context.settings.scheduler.reload_seconds)
            try:
                await self.context.database.run(db.check_database, self.context.engine)
            except StoreError:
                continue
            await self._start()
            return

    async def _start(self) -> None:
        self._started = True  # from here on, end() has something to clean up
        await self.engine.start()

    @staticmethod
    def _report(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the scheduler could not start", exc_info=task.exception())

    async def end(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._started:
            await self.engine.stop()

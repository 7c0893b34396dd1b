"""Scheduled jobs: what each kind of schedule does when it fires, and the registry kind → job.

The scheduler (``mailer.scheduler``) claims a fire time, then calls ``JOBS[kind]`` with a
:class:`JobRun`. A job returns a one-line summary (recorded as the run's reason),
raises :class:`JobSkipped` to record a skip, or raises anything else to record a
failure. Each job imports its use case when it runs, so a kind whose module is
missing fails its own runs only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from mailer.context import AppContext
from mailer.errors import JobSkipped, LeaseTaken
from mailer.schedules.leases import held_lease


@dataclass(frozen=True)
class JobRun:
    """One claimed fire time of one schedule, as handed to the job of its kind."""

    context: AppContext
    schedule: str
    #: The scheduled time this run is for (aware UTC) — not when it actually started.
    fire_time: datetime
    #: The scheduler process running it (holder of any lease the job takes).
    instance: str
    clock: Callable[[], datetime]

    def now(self) -> datetime:
        return self.clock()


JobFunction = Callable[[JobRun], Awaitable[str | None]]


async def poll(run: JobRun) -> str:
    """Fetch every feed, under a lease so that two schedulers never poll at the same time."""
    try:
        async with held_lease(run.context, "poll", holder=run.instance, clock=run.clock):
            from mailer.feeds.poll import poll_feeds

            results = await poll_feeds(run.context, now=run.now())
    except LeaseTaken as exc:
        raise JobSkipped(f"another scheduler is polling the feeds ({exc})") from None
    return describe_result(results)


async def digest(run: JobRun) -> str:
    """Create the edition of this fire time and queue it.

    The edition is keyed by (schedule, scheduled time), so a second call for the same
    fire time — another scheduler, a retry — gets the existing edition back, and only a
    draft is queued: together with the run claim this is "never twice" (issue 6).
    """
    from mailer.delivery import queue_edition
    from mailer.digest.create import create_edition
    from mailer.models import EditionState

    scheduled_for = run.fire_time.astimezone(UTC)
    edition = await asyncio.to_thread(
        create_edition, run.context, schedule=run.schedule, scheduled_for=scheduled_for
    )
    if edition.state == EditionState.DRAFT:
        await asyncio.to_thread(queue_edition, run.context, edition.id)
        return f"edition {edition.number} created and queued"
    return f"edition {edition.number} is {edition.state}; not queued again"


async def reconfirm(run: JobRun) -> str:
    """Send the consent re-confirmation notices that are due (시행령 제62조의3: every 2 years)."""
    from mailer.subscribers import send_due_reconfirmations

    return describe_result(await send_due_reconfirmations(run.context, now=run.now()))


async def purge(run: JobRun) -> str:
    """Delete expired pending signups and data past retention (개인정보보호법 제21조)."""
    from mailer.subscribers import purge_expired

    return describe_result(await asyncio.to_thread(purge_expired, run.context, now=run.now()))


#: kind → job. The scheduler looks a schedule's kind up here when it fires; tests and
#: extensions may add kinds (a schedule whose kind is missing records a failed run).
JOBS: dict[str, JobFunction] = {
    "poll": poll,
    "digest": digest,
    "reconfirm": reconfirm,
    "purge": purge,
}


def describe_result(result: object) -> str:
    """A one-line summary of whatever a use case returned, for the run record."""
    if result is None:
        return "done"
    if isinstance(result, (list, tuple)) and all(hasattr(item, "status") for item in result):
        new = sum(getattr(item, "new", 0) or 0 for item in result)
        failed = sum(1 for item in result if str(item.status) == "error")
        return f"{len(result)} feed(s) polled: {new} new stories, {failed} failed"
    if isinstance(result, Mapping):
        return ", ".join(f"{key}: {value}" for key, value in result.items()) or "done"
    return str(result)[:500]

"""Scheduled jobs: what each kind of schedule does when it fires, and the registry kind → job.

An entry point: the scheduler (:mod:`mailer.schedules.runner`, started by ``mailer
serve`` and ``mailer scheduler`` with this table) claims a fire time, then calls
``JOBS[kind]`` with a :class:`~mailer.schedules.JobRun`. A job returns a one-line
summary (recorded as the run's reason), raises :class:`JobSkipped` to record a skip,
or raises anything else to record a failure. Each job calls one step's use case,
imported when it runs, so a kind whose module is missing fails its own runs only;
blocking store work goes through ``ctx.database.run``, off the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC

from mailer.errors import JobSkipped, LeaseTaken
from mailer.schedules import JobFunction, JobRun, held_lease

log = logging.getLogger("mailer.digest")


async def poll(run: JobRun) -> str:
    """Fetch every feed, under a lease so that two schedulers never poll at the same time."""
    try:
        async with held_lease(run.context, "poll", holder=run.instance, clock=run.clock):
            from mailer.feeds import poll_feeds

            results = await poll_feeds(run.context, now=run.now())
    except LeaseTaken as exc:
        raise JobSkipped(f"another scheduler is polling the feeds ({exc})") from None
    from mailer.feeds import summarise

    totals = summarise(results)
    return (
        f"{totals['feeds']} feed(s) polled: {totals['new']} new stories, {totals['error']} failed"
    )


async def digest(run: JobRun) -> str:
    """Create the edition of this fire time and queue it.

    The edition is keyed by (schedule, scheduled time), so a second call for the same
    fire time — another scheduler, a retry — gets the existing edition back, and only a
    draft is queued: together with the run claim this is "never twice" (issue 6).
    """
    from mailer.delivery import queue_edition
    from mailer.digest import create_edition
    from mailer.models import EditionState

    database = run.context.database
    scheduled_for = run.fire_time.astimezone(UTC)
    started = time.monotonic()
    edition = await database.run(
        create_edition, run.context, schedule=run.schedule, scheduled_for=scheduled_for
    )
    built = round(time.monotonic() - started, 3)
    # queue_edition queues a draft only (and does nothing to any other edition); the
    # state the edition came back in says which of the two happened.
    queued = await database.run(queue_edition, run.context, edition.id)
    if edition.state == EditionState.DRAFT:
        # The edition's one summary line (issue 14 item 3), its figures as JSON fields too.
        figures = {
            "edition": edition.number,
            "stories": len(edition.stories),
            "deliveries_queued": queued,
            "build_seconds": built,
        }
        log.info(
            "edition %(edition)s: %(stories)d stories, %(deliveries_queued)d deliveries "
            "queued, built in %(build_seconds).2f s",
            figures,
            extra={"event": "edition_created", "schedule": run.schedule, **figures},
        )
        return f"edition {edition.number} created and queued"
    if edition.number is None:  # skipped: it takes no number (issue 15 item 3)
        return f"edition skipped, no number given: {edition.reason or 'no reason'}"
    return f"edition {edition.number} is {edition.state}; not queued again"


async def reconfirm(run: JobRun) -> str:
    """Send the consent re-confirmation notices that are due (시행령 제62조의3: every 2 years)."""
    from mailer.subscribers import send_due_reconfirmations

    return describe_result(await send_due_reconfirmations(run.context, now=run.now()))


async def purge(run: JobRun) -> str:
    """Delete expired pending signups and data past retention (개인정보보호법 제21조),
    and dead staff sessions and set-password links (never the audit log)."""
    from mailer.staff import purge_expired_staff_rows
    from mailer.subscribers import purge_expired

    database, now = run.context.database, run.now()
    result = await database.run(purge_expired, run.context, now=now)
    staff_rows = await database.run(purge_expired_staff_rows, run.context, now=now)
    return f"subscribers removed: {describe_result(result)}, {describe_result(staff_rows)}"


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
    if isinstance(result, Mapping):
        return ", ".join(f"{key}: {value}" for key, value in result.items()) or "done"
    return str(result)[:500]

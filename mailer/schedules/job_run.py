"""What a scheduled job is given and gives back: one claimed fire time in, a summary out.

The runner claims a fire time, then calls the job of the schedule's kind with a
:class:`JobRun`. A job returns a one-line summary (recorded as the run's reason),
raises :class:`~mailer.errors.JobSkipped` to record a skip, or raises anything else
to record a failure. The jobs themselves — what poll, digest and housekeeping do —
are an entry point's business (``mailer.jobs``), handed to the runner as a table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


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

#: kind → job: what the runner looks a schedule's kind up in.
JobTable = Mapping[str, JobFunction]

"""Create an edition: select its stories, render them and freeze them, once per (schedule, time).

``create_edition`` is idempotent under the edition key (schedule, scheduled time):
a second call, a retry or another process racing it gets the edition that exists
and creates nothing (design §4 "Editions"). The scheduled time comes in from the
caller — the scheduler's fire time, or the moment of a manual send — so this step
never needs to know how schedules fire.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from mailer.digest.rendering import render_next_edition
from mailer.errors import InvalidInputError, StoreError
from mailer.models import Edition
from mailer.store import editions as edition_store
from mailer.store.db import write_transaction

if TYPE_CHECKING:  # the context is built by bootstrap, one rung up; only its type is needed
    from mailer.context import AppContext

log = logging.getLogger("mailer.digest")

_CREATE_ATTEMPTS = 5


def create_edition(
    ctx: AppContext, /, *, schedule: str, scheduled_for: datetime, now: datetime | None = None
) -> Edition:
    """Create the edition of (schedule, scheduled_for), or return the one that exists.

    The new edition is ``draft`` (ready for the send step to queue), or ``skipped``
    with a recorded reason — and no number, since numbers are public and run without
    gaps — when there is nothing to send and ``digest.send_when_empty`` is false. A concurrent creator is resolved by the
    unique key: the loser's insert fails, it rolls back and returns the winner's row.
    Stories are selected and the number read before rendering, the templates run with
    no transaction open, and the write transaction only re-checks the key and inserts.
    """
    if scheduled_for.tzinfo is None:
        raise InvalidInputError("scheduled_for must carry a time zone", field="scheduled_for")
    if not schedule.strip():
        raise InvalidInputError("schedule name must not be empty", field="schedule")
    now = now or datetime.now(UTC)
    started = time.monotonic()
    for _attempt in range(_CREATE_ATTEMPTS):
        existing = _find(ctx, schedule=schedule, scheduled_for=scheduled_for)
        if existing is not None:
            return existing
        # Read, then render with no transaction open; only the insert below writes.
        rendered = render_next_edition(ctx, schedule=schedule, scheduled_for=scheduled_for, now=now)
        try:
            with write_transaction(ctx.engine) as conn:
                # Made while this one rendered: by a retry, a second scheduler, or the
                # same key's other creator (return it) — or another edition took the
                # number this one was rendered with (render again under the next one).
                existing = edition_store.find_by_key(
                    conn, schedule=schedule, scheduled_for=scheduled_for
                )
                if existing is not None:
                    return existing
                if (
                    rendered.number is not None
                    and edition_store.next_number(conn) != rendered.number
                ):
                    continue
                edition = edition_store.insert_edition(
                    conn,
                    number=rendered.number,
                    schedule=schedule,
                    scheduled_for=scheduled_for,
                    state=rendered.state,
                    subject=rendered.subject,
                    html=rendered.html,
                    text=rendered.text,
                    stories=rendered.story_records(),
                    reason=rendered.reason,
                    created_at=now,
                    story_positions=rendered.story_positions(),
                    template_versions=rendered.template_versions,
                )
        except IntegrityError:
            # PostgreSQL: another process inserted first, after this one looked. Either
            # this very edition (found at the top of the next attempt) or another edition
            # that took the number computed here (the next attempt takes the next one).
            continue
        build = ctx.metrics.get().edition_build_seconds
        build.labels(state=str(edition.state)).observe(time.monotonic() - started)
        log.info(
            "edition %s (%s %s) created: %s, %d stories",
            edition.number or "without a number",
            schedule,
            scheduled_for.isoformat(),
            edition.state,
            len(edition.stories),
        )
        return edition
    raise StoreError(f"could not create edition {schedule} {scheduled_for.isoformat()}: busy")


def _find(ctx: AppContext, /, *, schedule: str, scheduled_for: datetime) -> Edition | None:
    with ctx.engine.connect() as conn:
        return edition_store.find_by_key(conn, schedule=schedule, scheduled_for=scheduled_for)

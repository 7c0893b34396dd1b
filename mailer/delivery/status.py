"""What staff see of the send step: editions by number, their delivery counts, the audience size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailer.context import AppContext
from mailer.delivery.queue import edition_row
from mailer.errors import NotFoundError
from mailer.models import DeliveryCounts
from mailer.store import deliveries as store
from mailer.store import editions as edition_store


@dataclass(frozen=True, slots=True)
class EditionStatus:
    """An edition as the send commands show it: number, state, why it is paused, deliveries by state."""

    id: int
    number: int | None  # None: skipped, never numbered
    state: str
    subject: str
    reason: str | None
    counts: DeliveryCounts
    scheduled_for: datetime | None = None


def edition_id_for(ctx: AppContext, number: int, /) -> int:
    """Staff name editions by their number (as in /archive/{number}); the store by id."""
    with ctx.engine.connect() as conn:
        edition = edition_store.find_by_number(conn, number)
    if edition is None:
        raise NotFoundError("edition", number)
    return edition.id


def edition_status(ctx: AppContext, edition_id: int, /) -> EditionStatus:
    """One edition with its deliveries counted by state; NotFoundError when there is none."""
    with ctx.engine.connect() as conn:
        row = edition_row(conn, edition_id)
        counts = store.counts_by_state(conn, edition_id)
    return _status(row, counts)


def recent_editions(ctx: AppContext, /, *, limit: int = 10) -> list[EditionStatus]:
    """The newest editions first, each with its deliveries counted by state."""
    with ctx.engine.connect() as conn:
        rows = store.recent_editions(conn, limit=limit)
        return [_status(row, store.counts_by_state(conn, row["id"])) for row in rows]


def audience_size(ctx: AppContext, /) -> int:
    """How many subscribers an edition queued now would go to (the active ones)."""
    with ctx.engine.connect() as conn:
        return store.active_subscriber_count(conn)


def _status(row: dict, counts: dict[str, int]) -> EditionStatus:
    return EditionStatus(
        id=row["id"],
        number=row["number"],
        state=row["state"],
        subject=row.get("subject") or "",
        reason=row.get("reason"),
        counts=DeliveryCounts(by_state=counts),
        scheduled_for=row.get("scheduled_for"),
    )

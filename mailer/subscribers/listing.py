"""Reading the subscriber list: streams for export and listing, counts by status and of notice mail."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mailer.errors import InvalidInputError
from mailer.models import DeliveryState, SubscriberStatus
from mailer.store import notices as notice_store
from mailer.store import subscribers as store

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


log = logging.getLogger("mailer.subscribers")

#: The export's own columns, in order; attributes follow as extra columns. It is the
#: import's format, so an export can be imported again.
EXPORT_COLUMNS = [
    "email",
    "name",
    "organisation",
    "status",
    "source",
    "created_at",
    "confirmed_at",
    "consented_at",
    "unsubscribed_at",
]


@dataclass(frozen=True, slots=True)
class SubscriberView:
    """A subscriber as staff list them: who, their status, where and when they came."""

    email: str
    name: str | None
    organisation: str | None
    status: str
    source: str
    created_at: datetime
    confirmed_at: datetime | None
    attributes: dict[str, Any]

    @classmethod
    def from_row(cls, row: dict, /) -> SubscriberView:
        return cls(
            email=row["email"],
            name=row["name"],
            organisation=row["organisation"],
            status=row["status"],
            source=row["source"],
            created_at=row["created_at"],
            confirmed_at=row["confirmed_at"],
            attributes=row["attributes"] or {},
        )

    @property
    def since(self) -> datetime:
        """When they joined: confirmed, or (not yet confirmed) signed up."""
        return self.confirmed_at or self.created_at

    def as_json(self) -> dict[str, Any]:
        """The object ``subscribers list --json`` prints for this subscriber."""
        return {
            "email": self.email,
            "name": self.name,
            "organisation": self.organisation,
            "status": self.status,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
            "confirmed_at": self.confirmed_at.isoformat() if self.confirmed_at else None,
            "attributes": self.attributes,
        }


@dataclass(frozen=True, slots=True)
class NoticeCounts:
    """How many notice mails are in each delivery state."""

    by_state: dict[str, int] = field(default_factory=dict)

    @property
    def waiting(self) -> int:
        """Not sent yet, and still to be: queued, or deferred for a retry."""
        return self.by_state.get(DeliveryState.QUEUED, 0) + self.by_state.get(
            DeliveryState.DEFERRED, 0
        )

    @property
    def failed(self) -> int:
        return self.by_state.get(DeliveryState.FAILED, 0)

    @property
    def unknown(self) -> int:
        """In flight when a worker stopped; not resent automatically."""
        return self.by_state.get(DeliveryState.UNKNOWN, 0)


def _checked_statuses(statuses: list[str] | None) -> list[str] | None:
    if not statuses:
        return None
    known = {s.value for s in SubscriberStatus}
    for value in statuses:
        if value not in known:
            raise InvalidInputError(
                f"unknown status {value!r} (one of: {', '.join(sorted(known))})", field="status"
            )
    return statuses


def iter_subscribers(
    ctx: AppContext, /, *, statuses: list[str] | None = None, limit: int | None = None
) -> Iterator[SubscriberView]:
    """Every subscriber (optionally of some statuses; at most ``limit``) in sign-up order, streamed.

    An unknown status or a negative limit raises InvalidInputError at once, before
    the stream is read.
    """
    if limit is not None and limit < 0:
        raise InvalidInputError("the limit cannot be negative", field="limit")
    rows = _rows(ctx, statuses=statuses, limit=limit)
    return (SubscriberView.from_row(row) for row in rows)


def _rows(ctx: AppContext, /, *, statuses: list[str] | None, limit: int | None = None):
    """The store's rows, streamed; the statuses are checked before the stream is read."""
    checked = _checked_statuses(statuses)

    def stream() -> Iterator[dict]:
        # Stopping inside the ``with`` ends the read (on SQLite, its transaction) as
        # soon as the limit is reached, not when the caller drops the stream.
        with ctx.engine.connect() as conn:
            yield from itertools.islice(store.iter_subscribers(conn, statuses=checked), limit)

    return stream()


def export_table(
    ctx: AppContext, /, *, statuses: list[str] | None = None
) -> tuple[list[str], Iterator[list[str]]]:
    """(header, rows) of the subscriber list in the import's CSV format, attributes as columns.

    Two streaming passes: the first finds every attribute name, so memory stays flat
    however long the list is. Times are ISO 8601; a missing value is an empty string.
    """
    attribute_names: set[str] = set()
    for row in _rows(ctx, statuses=statuses):
        attribute_names.update((row["attributes"] or {}).keys())
    columns = EXPORT_COLUMNS + sorted(attribute_names - set(EXPORT_COLUMNS))

    def rows() -> Iterator[list[str]]:
        for row in _rows(ctx, statuses=statuses):
            values = {k: row.get(k) for k in EXPORT_COLUMNS}
            values.update(row["attributes"] or {})
            yield [
                v.isoformat() if hasattr(v, "isoformat") else ("" if v is None else v)
                for v in (values.get(c) for c in columns)
            ]

    return columns, rows()


def status_counts(ctx: AppContext, /) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return store.count_by_status(conn)


def notice_counts(ctx: AppContext, /) -> NoticeCounts:
    with ctx.engine.connect() as conn:
        return NoticeCounts(by_state=notice_store.counts(conn))

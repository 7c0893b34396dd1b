"""Reading the subscriber list: streams for export and listing, counts by status."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mailer.errors import InvalidInputError
from mailer.models import SubscriberStatus
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


def iter_subscribers(ctx: AppContext, /, *, statuses: list[str] | None = None) -> Iterator[dict]:
    """Every subscriber (optionally of some statuses), streamed for export and listing.

    An unknown status raises InvalidInputError at once, before the stream is read.
    """
    checked = _checked_statuses(statuses)

    def stream() -> Iterator[dict]:
        with ctx.engine.connect() as conn:
            yield from store.iter_subscribers(conn, statuses=checked)

    return stream()


def export_table(
    ctx: AppContext, /, *, statuses: list[str] | None = None
) -> tuple[list[str], Iterator[list[str]]]:
    """(header, rows) of the subscriber list in the import's CSV format, attributes as columns.

    Two streaming passes: the first finds every attribute name, so memory stays flat
    however long the list is. Times are ISO 8601; a missing value is an empty string.
    """
    attribute_names: set[str] = set()
    for row in iter_subscribers(ctx, statuses=statuses):
        attribute_names.update((row["attributes"] or {}).keys())
    columns = EXPORT_COLUMNS + sorted(attribute_names - set(EXPORT_COLUMNS))

    def rows() -> Iterator[list[str]]:
        for row in iter_subscribers(ctx, statuses=statuses):
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


def notice_counts(ctx: AppContext, /) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return notice_store.counts(conn)

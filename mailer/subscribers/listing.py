"""Reading the subscriber list: streams for export and listing, counts by status."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mailer.store import notices as notice_store
from mailer.store import subscribers as store

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


log = logging.getLogger("mailer.subscribers")


# --- reading -----------------------------------------------------------------------------


def iter_subscribers(ctx: AppContext, /, *, statuses: list[str] | None = None):
    """Every subscriber (optionally of some statuses), streamed for export and listing."""
    with ctx.engine.connect() as conn:
        yield from store.iter_subscribers(conn, statuses=statuses)


def status_counts(ctx: AppContext, /) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return store.count_by_status(conn)


def notice_counts(ctx: AppContext, /) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return notice_store.counts(conn)

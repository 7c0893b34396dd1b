"""Read the editions already made: the public archive's list, and one edition by its number."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailer.models import Edition
from mailer.store import editions as edition_store
from mailer.store.editions import ArchiveEntry

if TYPE_CHECKING:  # the context is built by bootstrap, one rung up; only its type is needed
    from mailer.context import AppContext


def sent_editions(ctx: AppContext, /, *, limit: int = 200, offset: int = 0) -> list[ArchiveEntry]:
    """Sent editions, newest first (what the public archive lists)."""
    with ctx.engine.connect() as conn:
        return edition_store.list_sent(conn, limit=limit, offset=offset)


def edition_by_number(ctx: AppContext, number: int, /) -> Edition | None:
    """The edition numbered ``number`` in any state, or None."""
    with ctx.engine.connect() as conn:
        return edition_store.find_by_number(conn, number)

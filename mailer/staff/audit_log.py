"""Reading the staff audit log with filters, a page at a time (issue 12 item 8; admins only).

There is no use case that changes or deletes an audit row: the log is kept (at least
two years, 개인정보의 안전성 확보조치 기준 접속기록 보관), and the purge leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from mailer.roles import HasRole, require
from mailer.store import staff_sessions as store

if TYPE_CHECKING:
    from mailer.context import AppContext

#: Rows on one page of the audit log.
PAGE_SIZE = 100


@dataclass(frozen=True)
class AuditFilter:
    """What an admin asks for; empty fields filter nothing. ``action`` ending in "." is a prefix."""

    actor: str = ""
    action: str = ""
    first_day: date | None = None
    last_day: date | None = None
    client_address: str = ""
    older_than: int | None = None


@dataclass(frozen=True)
class AuditPage:
    rows: list[dict]
    #: The id to continue from for older rows, or None on the last page.
    older: int | None


def find_audit(
    ctx: AppContext, wanted: AuditFilter, /, *, account: HasRole, limit: int = PAGE_SIZE
) -> AuditPage:
    """One page of the rows ``wanted`` asks for, newest first; days are in the configured zone."""
    require(account, "view_audit")
    zone = ctx.settings.zone

    def start(day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=zone)

    prefix = wanted.action if wanted.action.endswith(".") else None
    with ctx.engine.connect() as conn:
        rows = store.find_audit(
            conn,
            limit=limit + 1,
            actor=wanted.actor.strip().lower() or None,
            action=None if prefix else wanted.action or None,
            action_prefix=prefix,
            since=start(wanted.first_day) if wanted.first_day else None,
            until=start(wanted.last_day + timedelta(days=1)) if wanted.last_day else None,
            client_address=wanted.client_address.strip() or None,
            older_than=wanted.older_than,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows=rows, older=rows[-1]["id"] if more else None)

"""The daily purge's staff part: sessions past their timeouts and dead set-password links go; the audit log stays.

A session past ``admin.session_hours`` (or idle past ``admin.session_idle_minutes``)
opens nothing, nor does a used or expired link: keeping their rows only keeps token
hashes. Audit rows are never purged (kept at least two years, issue 12 item 8).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mailer.store import staff as users_store
from mailer.store import staff_sessions as sessions_store
from mailer.store.db import write_transaction

if TYPE_CHECKING:
    from mailer.context import AppContext


def purge_expired_staff_rows(ctx: AppContext, /, *, now: datetime | None = None) -> dict[str, int]:
    """Delete dead staff sessions and links; returns how many of each."""
    now = now or datetime.now(UTC)
    limits = ctx.settings.admin
    with write_transaction(ctx.engine) as conn:
        sessions = sessions_store.delete_dead_sessions(
            conn,
            started_before=now - timedelta(hours=limits.session_hours),
            idle_since=now - timedelta(minutes=limits.session_idle_minutes),
        )
        links = users_store.delete_dead_links(conn, now=now)
    return {"staff_sessions": sessions, "staff_password_links": links}

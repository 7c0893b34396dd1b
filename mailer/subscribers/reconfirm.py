"""Consent re-confirmation notices every two years (정보통신망법 시행령 제62조의3)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mailer.models import NoticeKind
from mailer.store import notices as notice_store
from mailer.store import subscribers as store
from mailer.store.db import write_transaction
from mailer.subscribers.tokens import utcnow

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


log = logging.getLogger("mailer.subscribers")


# --- re-confirmation ---------------------------------------------------------------------


async def send_due_reconfirmations(ctx: AppContext, /, *, now: datetime | None = None) -> int:
    """Queue the two-yearly consent notice for everyone due; a delivery worker sends them.

    Returns how many re-confirmation notices were queued by this call. The next due
    date advances in the same transaction, so two schedulers never queue one twice.
    The mail bell wakes this process's worker (``mailer serve``); a ``mailer worker``
    elsewhere finds them at its next poll.
    """
    now = now or utcnow()
    queued = await ctx.database.run(_queue_reconfirmations, ctx, now)
    if queued:
        ctx.mail_bell.ring()
    return queued


def _queue_reconfirmations(ctx: AppContext, now: datetime) -> int:
    interval = timedelta(days=ctx.settings.subscriptions.reconfirm_days)
    queued = 0
    while True:
        with write_transaction(ctx.engine) as conn:
            ids = store.due_for_reconfirmation(conn, now, limit=500)
            for subscriber_id in ids:
                row = store.by_id(conn, subscriber_id)
                if row is None:
                    continue
                # Every 2 years counted from the consent date (시행령 제62조의3), not from
                # whenever this job happened to run.
                next_due = row["reconfirm_due_at"] + interval
                if next_due <= now:
                    next_due = now + interval
                store.update_subscriber(conn, subscriber_id, reconfirm_due_at=next_due)
                notice_store.enqueue(
                    conn,
                    NoticeKind.RECONFIRM.value,
                    to_address=row["email"],
                    subscriber_id=subscriber_id,
                    now=now,
                )
                queued += 1
        if len(ids) < 500:
            return queued

"""Asking for one's data: a short-lived link, mailed to the address, opens the download and erasure.

The permanent token in every newsletter travels with forwarded mail, so it opens only
preferences and unsubscribe (issue 11, item 8). Whoever wants the data download (IP
and user-agent history) or the erasure asks for a link by address; the link goes to
that address only, through the notice queue and the delivery worker like every other
notice, works for ``subscriptions.data_link_hours`` and is stored as a hash. The
answer is the same whether or not the address is on the list.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mailer.models import NoticeKind, SubscriberStatus
from mailer.store import notices as notice_store
from mailer.store import rate_limits
from mailer.store import subscribers as store
from mailer.store.db import write_transaction
from mailer.subscribers.tokens import limit_key, throttle_ip, utcnow
from mailer.subscribers.validation import require_subscriber

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


def request_data_link(
    ctx: AppContext, email: str, /, *, ip: str | None = None, now: datetime | None = None
) -> bool:
    """Queue a data-access link to ``email`` if it is on the list; True if one was queued.

    Callers answer the same either way (the result is for tests and logs of counts).
    An invalid address raises InvalidSubscriberInput; more than
    ``subscriptions.per_ip_per_hour`` requests from one IP raise SignupThrottled; a
    second request for one address within ``per_address_interval`` queues nothing, so
    the form cannot be used to flood someone's inbox.
    """
    return request_mailed_link(
        ctx, email, NoticeKind.DATA_LINK, "data", ip=ip, now=now, wanted=_NOT_ERASED
    )


_NOT_ERASED = frozenset(set(SubscriberStatus) - {SubscriberStatus.ERASED})


def request_mailed_link(
    ctx: AppContext,
    email: str,
    notice: NoticeKind,
    limit: str,
    /,
    *,
    ip: str | None,
    now: datetime | None,
    wanted: Collection[SubscriberStatus],
) -> bool:
    """The "mail a link to that address" pattern every by-address form shares.

    Queues ``notice`` to ``email`` when the address is on the list in one of the
    ``wanted`` states; True if one was queued. The caller answers the same either way.
    Throttled per IP (``{limit}-ip``) and per address (``{limit}-address``, one mail
    per ``per_address_interval``), like the signup form.
    """
    cleaned = require_subscriber(email=email)
    now = now or utcnow()
    settings = ctx.settings.subscriptions
    with write_transaction(ctx.engine) as conn:
        throttle_ip(ctx, conn, f"{limit}-ip", ip, now=now)
        window = timedelta(seconds=settings.per_address_interval)
        first = rate_limits.hit(
            conn, limit_key(ctx, f"{limit}-address", cleaned.email), now=now, window=window
        )
        row = store.by_email(conn, cleaned.email)
        if first != 1 or row is None or SubscriberStatus(row["status"]) not in wanted:
            return False
        notice_store.enqueue(
            conn,
            notice.value,
            to_address=row["email"],
            subscriber_id=row["id"],
            now=now,
        )
    ctx.mail_bell.ring()
    return True

"""After the signup: unsubscribe (one-click, page or staff), pause and resume, the profile.

Every change is written together with its consent-ledger entry; a withdrawal queues
the result notice the law asks for (정보통신망법 제50조⑦: within 14 days).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from mailer.errors import NotFoundError
from mailer.models import ConsentKind, NoticeKind, SubscriberStatus
from mailer.store import consent as ledger
from mailer.store import notices as notice_store
from mailer.store import subscribers as store
from mailer.store import suppressions
from mailer.store.db import write_transaction
from mailer.subscribers.tokens import (
    CONSENTED,
    FOR_PREFERENCES,
    FOR_UNSUBSCRIBE,
    lookup_token,
    utcnow,
)
from mailer.subscribers.validation import check_profile, require_subscriber

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


def unsubscribe(
    ctx: AppContext,
    token: str,
    /,
    *,
    source: str,
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Stop all mail to the holder of ``token`` at once; True if this call changed anything.

    Idempotent: a second call, or a token that matches nobody, does nothing and
    returns False. A subscriber who had consented gets a withdrawal result notice
    (정보통신망법 제50조⑦). Every token this subscriber was ever mailed works here,
    including those replaced at re-consent: a refusal must be honoured (제50조).
    """
    now = now or utcnow()
    with write_transaction(ctx.engine) as conn:
        row = lookup_token(conn, token, opens=FOR_UNSUBSCRIBE, lock=True, now=now)
        if row is None:
            return False
        return _withdraw(conn, row, source=source, ip=ip, user_agent=user_agent, now=now, ctx=ctx)


def unsubscribe_address(
    ctx: AppContext,
    email: str,
    /,
    *,
    source: str = "admin",
    notify: bool = True,
    now: datetime | None = None,
) -> bool:
    """Staff-side unsubscribe by address (``mailer subscribers remove``)."""
    cleaned = require_subscriber(email=email)
    now = now or utcnow()
    with write_transaction(ctx.engine) as conn:
        row = store.by_email(conn, cleaned.email, lock=True)
        if row is None:
            raise NotFoundError("subscriber", cleaned.email)
        return _withdraw(conn, row, source=source, now=now, ctx=ctx, notify=notify)


def _withdraw(
    conn: Connection,
    row: dict,
    *,
    source: str,
    now: datetime,
    ctx: AppContext,
    ip: str | None = None,
    user_agent: str | None = None,
    notify: bool = True,
) -> bool:
    status = SubscriberStatus(row["status"])
    if status is SubscriberStatus.UNSUBSCRIBED:
        return False
    store.update_subscriber(
        conn,
        row["id"],
        status=SubscriberStatus.UNSUBSCRIBED.value,
        unsubscribed_at=now,
        # A confirmation link still in someone's inbox must not undo the withdrawal.
        confirm_token_hash=None,
        confirm_expires_at=None,
    )
    address_hash = ctx.keys.address_key(row["email"])
    suppressions.suppress(conn, address_hash, reason="unsubscribed", at=now)
    ledger.record_event(
        conn,
        ConsentKind.WITHDRAWAL.value,
        subscriber_id=row["id"],
        email_hash=address_hash,
        at=now,
        ip=ip,
        user_agent=user_agent,
        source=source,
        detail={"previous_status": status.value},
    )
    notice_store.drop_for_subscriber(conn, row["id"])
    if notify and status in CONSENTED:
        notice_store.enqueue(
            conn,
            NoticeKind.WITHDRAWAL.value,
            to_address=row["email"],
            subscriber_id=row["id"],
            context={"action_at": now.isoformat()},
            now=now,
        )
    return True


def set_paused(
    ctx: AppContext,
    token: str,
    /,
    *,
    paused: bool,
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Pause (or resume) the digest without withdrawing consent; True if the status changed."""
    now = now or utcnow()
    want, have = (
        (SubscriberStatus.PAUSED, SubscriberStatus.ACTIVE)
        if paused
        else (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED)
    )
    with write_transaction(ctx.engine) as conn:
        row = lookup_token(conn, token, opens=FOR_PREFERENCES, lock=True, now=now)
        if row is None:
            raise NotFoundError("subscription", "(token)")
        if row["status"] != have.value:
            return False
        store.update_subscriber(conn, row["id"], status=want.value)
        ledger.record_event(
            conn,
            (ConsentKind.PAUSE if paused else ConsentKind.RESUME).value,
            subscriber_id=row["id"],
            email_hash=ctx.keys.address_key(row["email"]),
            at=now,
            ip=ip,
            user_agent=user_agent,
            source="preferences",
        )
        return True


def update_profile(
    ctx: AppContext, token: str, /, *, name: str | None, organisation: str | None
) -> dict:
    """Change the optional name and organisation; raises InvalidSubscriberInput per field."""
    clean_name, clean_org = check_profile(name=name, organisation=organisation)
    with write_transaction(ctx.engine) as conn:
        row = lookup_token(conn, token, opens=FOR_PREFERENCES, lock=True)
        if row is None or SubscriberStatus(row["status"]) is SubscriberStatus.ERASED:
            raise NotFoundError("subscription", "(token)")
        store.update_subscriber(conn, row["id"], name=clean_name, organisation=clean_org)
        return {**row, "name": clean_name, "organisation": clean_org}


def subscriber_for_token(ctx: AppContext, token: str, /) -> dict | None:
    """The subscriber whose preferences this token opens, or None.

    A token replaced at re-consent, or a data-access link, does not open preferences.
    """
    with ctx.engine.connect() as conn:
        return lookup_token(conn, token, opens=FOR_PREFERENCES)

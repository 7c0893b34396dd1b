"""Personal data on request, erasure, and the purge of data past its retention (개인정보보호법 제21·36조)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from mailer.keys import IdentityKeys
from mailer.models import (
    ConsentKind,
    NoticeKind,
    SubscriberStatus,
)
from mailer.store import consent as ledger
from mailer.store import link_tokens, rate_limits, suppressions
from mailer.store import notices as notice_store
from mailer.store import subscribers as store
from mailer.store.consent_texts import consent_texts_by_version
from mailer.store.db import write_transaction
from mailer.subscribers.tokens import (
    CONSENTED,
    FOR_DATA,
    lookup_token,
    utcnow,
)
from mailer.subscribers.validation import (
    Problem,
    invalid_subscriber_input,
    require_subscriber,
)

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


log = logging.getLogger("mailer.subscribers")


def data_access_holder(
    ctx: AppContext, token: str, /, *, now: datetime | None = None
) -> dict | None:
    """The subscriber a valid (unexpired) data-access link names, or None."""
    with ctx.engine.connect() as conn:
        return lookup_token(conn, token, opens=FOR_DATA, now=now)


def personal_data(ctx: AppContext, token: str, /, *, now: datetime | None = None) -> dict | None:
    """Everything held about the holder of a data-access link, as JSON-ready data (개인정보보호법 제35조, GDPR Art. 15/20).

    ``token`` is a short-lived link mailed on request (subscribers/data_access.py),
    never the permanent token every newsletter carries (issue 11, item 8).
    """
    with ctx.engine.connect() as conn:
        row = lookup_token(conn, token, opens=FOR_DATA, now=now)
        if row is None:
            return None
        events = ledger.events_for(conn, email_hash=ctx.keys.address_key(row["email"]))
        versions = sorted({e["consent_version"] for e in events if e["consent_version"]})
        texts = consent_texts_by_version(conn, versions)
        delivered = store.editions_delivered(conn, row["id"])

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "email": row["email"],
        "name": row["name"],
        "organisation": row["organisation"],
        "status": row["status"],
        "source": row["source"],
        "attributes": row["attributes"] or {},
        "created_at": iso(row["created_at"]),
        "confirmed_at": iso(row["confirmed_at"]),
        "consented_at": iso(row["consented_at"]),
        "unsubscribed_at": iso(row["unsubscribed_at"]),
        "reconfirm_due_at": iso(row["reconfirm_due_at"]),
        "consent_events": [
            {
                "kind": e["kind"],
                "at": iso(e["at"]),
                "ip": e["ip"],
                "user_agent": e["user_agent"],
                "source": e["source"],
                "consent_version": e["consent_version"],
                "detail": e["detail"] or {},
            }
            for e in events
        ],
        "consent_texts": {v: texts[v]["text"] for v in versions if v in texts},
        "editions_received": [
            {
                "number": d["number"],
                "subject": d["subject"],
                "state": d["state"],
                "sent_at": iso(d["sent_at"]),
            }
            for d in delivered
        ],
    }


# --- erasure and purge -------------------------------------------------------------------


def erase(
    ctx: AppContext,
    /,
    *,
    token: str | None = None,
    email: str | None = None,
    source: str,
    notify: bool = True,
    confirmed: bool = True,
    now: datetime | None = None,
) -> bool:
    """Destroy the subscriber's personal data, keep a hashed suppression entry, log the erasure.

    Give ``token`` (a data-access link mailed on request) or ``email`` (staff). Erasure
    cannot be undone: the data page passes its confirmation box as ``confirmed`` (unticked raises
    InvalidSubscriberInput for the field ``confirm``); a staff command is its own
    confirmation. The consent ledger keeps
    its event skeleton with IP and user agent blanked. A result notice goes to the
    address when ``notify`` and the person had consented; the address is dropped
    from the queue once that mail is sent. Returns False if nobody matched.
    """
    if not confirmed:
        raise invalid_subscriber_input({"confirm": Problem.CONFIRMATION_REQUIRED})
    now = now or utcnow()
    with write_transaction(ctx.engine) as conn:
        if token is not None:
            row = lookup_token(conn, token, opens=FOR_DATA, lock=True, now=now)
        else:
            cleaned = require_subscriber(email=email or "")
            row = store.by_email(conn, cleaned.email, lock=True)
        if row is None:
            return False
        status = SubscriberStatus(row["status"])
        _erase_row(
            conn,
            row,
            keys=ctx.keys,
            now=now,
            source=source,
            suppress_reason="erased",
            notify=notify and status in (*CONSENTED, SubscriberStatus.UNSUBSCRIBED),
        )
        return True


def _erase_row(
    conn: Connection,
    row: dict,
    *,
    keys: IdentityKeys,
    now: datetime,
    source: str,
    suppress_reason: str | None,
    notify: bool,
    detail: dict[str, Any] | None = None,
) -> None:
    address_hash = keys.address_key(row["email"])
    notice_store.drop_for_subscriber(conn, row["id"])
    ledger.scrub_personal_fields(conn, address_hash)
    # Deliveries of this subscriber go with the row (ON DELETE CASCADE); the ledger
    # and sent notices keep their rows with subscriber_id set NULL.
    store.delete_subscriber(conn, row["id"])
    if suppress_reason:
        suppressions.suppress(conn, address_hash, reason=suppress_reason, at=now)
    ledger.record_event(
        conn,
        ConsentKind.ERASURE.value,
        email_hash=address_hash,
        at=now,
        source=source,
        detail={"previous_status": row["status"], **(detail or {})},
    )
    if notify:
        notice_store.enqueue(
            conn,
            NoticeKind.ERASURE.value,
            to_address=row["email"],
            context={"action_at": now.isoformat()},
            now=now,
        )


def purge_expired(ctx: AppContext, /, *, now: datetime | None = None) -> int:
    """Housekeeping for the ``purge`` schedule; returns how many subscribers were removed.

    - unconfirmed signups older than ``pending_retention_days`` are deleted (no
      suppression: they may sign up again);
    - unsubscribed addresses older than ``unsubscribed_retention_days`` are erased,
      keeping the suppression entry (개인정보보호법 제21조: destroy once the purpose ends);
    - spent rate-limit windows, expired data-access links and finished notices are dropped.
    """
    now = now or utcnow()
    settings = ctx.settings.subscriptions
    removed = 0
    jobs = (
        (
            store.pending_created_before,
            now - timedelta(days=settings.pending_retention_days),
            None,
            "unconfirmed",
        ),
        (
            store.unsubscribed_before,
            now - timedelta(days=settings.unsubscribed_retention_days),
            "unsubscribed",
            "unsubscribed",
        ),
    )
    for select_ids, before, suppress_reason, why in jobs:
        while True:
            with write_transaction(ctx.engine) as conn:
                ids = select_ids(conn, before, limit=200)
                for subscriber_id in ids:
                    row = store.by_id(conn, subscriber_id, lock=True)
                    if row is None:
                        continue
                    if (
                        why == "unconfirmed"
                        and (row["confirm_sent_at"] or row["created_at"]) >= before
                    ):
                        continue  # signed up again recently
                    _erase_row(
                        conn,
                        row,
                        keys=ctx.keys,
                        now=now,
                        source="retention",
                        suppress_reason=suppress_reason,
                        notify=False,
                        detail={"reason": why},
                    )
                    removed += 1
            if len(ids) < 200:
                break
    with write_transaction(ctx.engine) as conn:
        rate_limits.forget_before(conn, now - timedelta(days=1))
        link_tokens.forget_expired(conn, now)
        notice_store.forget_finished_before(conn, now - timedelta(days=30))
    return removed

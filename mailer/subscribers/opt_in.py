"""Signup with double opt-in, and staff adding an address.

A signup is recorded with its consent-ledger entry and one queued confirmation mail;
the click on its link (a POST, never the GET: mail scanners open links) makes the
subscriber active and queues the result notice (정보통신망법 제50조⑦: the result of
consent within 14 days). Notices are delivered after the change is committed — never
inside a web request — and retried while the relay is down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from mailer.errors import InvalidInputError, SignupThrottled
from mailer.models import (
    ConsentKind,
    NoticeKind,
    SubscriberStatus,
    email_hash,
    new_subscriber_token,
)
from mailer.store import consent as ledger
from mailer.store import notices as notice_store
from mailer.store import rate_limits, suppressions
from mailer.store import subscribers as store
from mailer.store.consent_texts import consent_texts_by_version
from mailer.store.db import write_transaction
from mailer.subscribers.tokens import (
    CONSENTED,
    limit_key,
    plausible_token,
    token_hash,
    utcnow,
)
from mailer.subscribers.validation import check_signup, require_subscriber

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


log = logging.getLogger("mailer.subscribers")


class SignupOutcome(StrEnum):
    """What a signup did. The web answers all of them alike (no address enumeration)."""

    CONFIRMATION_QUEUED = "confirmation_queued"
    ALREADY_SUBSCRIBED = "already_subscribed"  # a short "you are already subscribed" mail
    MAIL_LIMITED = "mail_limited"  # a mail went to this address within the interval


class ConfirmState(StrEnum):
    VALID = "valid"  # a pending signup; the page shows the confirm button
    CONFIRMED = "confirmed"  # just confirmed by this call
    ALREADY = "already"  # confirmed earlier (double click, second visit)
    INVALID = "invalid"  # unknown, expired or replaced link


@dataclass(frozen=True, slots=True)
class ConfirmResult:
    state: ConfirmState
    token: str | None = None  # the subscriber's preferences token, once confirmed
    name: str | None = None


def signup(
    ctx: AppContext,
    email: str,
    /,
    *,
    name: str | None = None,
    organisation: str | None = None,
    consented: bool,
    consent_version: str | None,
    source: str = "web",
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> SignupOutcome:
    """Record a signup and queue one confirmation mail (double opt-in).

    ``consented`` is the signup form's consent box: without it nothing is stored.
    ``consent_version`` names the consent text shown (None: staff adding an address).
    Raises InvalidSubscriberInput (nothing stored) for bad input, every field's problem
    at once, and SignupThrottled when the IP is over its hourly limit. The per-address
    limit never raises: it only holds back the mail, so the answer cannot tell whether
    an address is known.
    """
    cleaned = check_signup(email=email, name=name, organisation=organisation, consented=consented)
    now = now or utcnow()
    settings = ctx.settings.subscriptions
    with write_transaction(ctx.engine) as conn:
        if consent_version is not None and not _consent_version_exists(ctx, conn, consent_version):
            raise InvalidInputError("the consent text shown is not known", field="consent")
        if ip:
            count = rate_limits.hit(
                conn, limit_key(ctx, "ip", ip), now=now, window=timedelta(hours=1)
            )
            if count > settings.per_ip_per_hour:
                raise SignupThrottled(retry_after=3600)
        row = store.by_email(conn, cleaned.email, lock=True)
        inserted = False
        if row is None:
            values = {
                "email": cleaned.email,
                "name": cleaned.name,
                "organisation": cleaned.organisation,
                "status": SubscriberStatus.PENDING.value,
                "token": new_subscriber_token(),
                "attributes": {},
                "source": source[:100],
                "created_at": now,
                "confirm_sent_at": now,
            }
            new_id = store.insert_if_absent(conn, values)
            if new_id is not None:
                row, inserted = {**values, "id": new_id}, True
            else:
                # Another process inserted the same address a moment earlier.
                row = store.by_email(conn, cleaned.email, lock=True)
        mail_allowed = (
            rate_limits.hit(
                conn,
                limit_key(ctx, "address", cleaned.email),
                now=now,
                window=timedelta(seconds=settings.per_address_interval),
            )
            == 1
        )
        if SubscriberStatus(row["status"]) in CONSENTED:
            if not mail_allowed:
                return SignupOutcome.MAIL_LIMITED
            notice_store.enqueue(
                conn,
                NoticeKind.ALREADY.value,
                to_address=row["email"],
                subscriber_id=row["id"],
                now=now,
            )
            return SignupOutcome.ALREADY_SUBSCRIBED
        if not inserted:
            # pending, unsubscribed or bounced: (again) waiting for the confirmation click.
            changes: dict[str, Any] = {
                "status": SubscriberStatus.PENDING.value,
                "source": source[:100],
                "confirm_sent_at": now,
            }
            if cleaned.name is not None:
                changes["name"] = cleaned.name
            if cleaned.organisation is not None:
                changes["organisation"] = cleaned.organisation
            store.update_subscriber(conn, row["id"], **changes)
        ledger.record_event(
            conn,
            ConsentKind.CONSENT.value,
            subscriber_id=row["id"],
            email_hash=email_hash(row["email"]),
            at=now,
            ip=ip,
            user_agent=user_agent,
            source=source,
            consent_version=consent_version,
        )
        if not mail_allowed:
            return SignupOutcome.MAIL_LIMITED
        if inserted or not notice_store.has_unsent(conn, row["id"], NoticeKind.CONFIRM.value):
            notice_store.enqueue(
                conn,
                NoticeKind.CONFIRM.value,
                to_address=row["email"],
                subscriber_id=row["id"],
                now=now,
            )
        return SignupOutcome.CONFIRMATION_QUEUED


def _consent_version_exists(ctx: AppContext, conn: Connection, version: str) -> bool:
    """Consent texts are never deleted, so a version once found is remembered per process."""
    known = ctx.known_consent_versions
    if version in known:
        return True
    if consent_texts_by_version(conn, [version]):
        known.add(version)
        return True
    return False


def check_confirmation(
    ctx: AppContext, token: str, /, *, now: datetime | None = None
) -> ConfirmResult:
    """What a confirmation link would do, without doing it (for the GET page)."""
    now = now or utcnow()
    with ctx.engine.connect() as conn:
        return _confirmation_state(conn, token, now=now, lock=False)[0]


def _confirmation_state(
    conn: Connection, token: str, *, now: datetime, lock: bool
) -> tuple[ConfirmResult, dict | None]:
    if not plausible_token(token):
        return ConfirmResult(ConfirmState.INVALID), None
    row = store.by_confirm_hash(conn, token_hash(token), lock=lock)
    if row is None:
        return ConfirmResult(ConfirmState.INVALID), None
    status = SubscriberStatus(row["status"])
    if status in CONSENTED:
        return ConfirmResult(ConfirmState.ALREADY, row["token"], row["name"]), row
    expires = row["confirm_expires_at"]
    if status is not SubscriberStatus.PENDING or expires is None or expires <= now:
        return ConfirmResult(ConfirmState.INVALID), None
    return ConfirmResult(ConfirmState.VALID, None, row["name"]), row


def confirm(
    ctx: AppContext,
    token: str,
    /,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    source: str = "web",
    now: datetime | None = None,
) -> ConfirmResult:
    """Complete the double opt-in: the subscriber becomes active and a result notice is queued.

    The link's hash is kept until it expires, so a second click answers "already
    confirmed" instead of "invalid".
    """
    now = now or utcnow()
    with write_transaction(ctx.engine) as conn:
        result, row = _confirmation_state(conn, token, now=now, lock=True)
        if result.state is not ConfirmState.VALID or row is None:
            return result
        days = ctx.settings.subscriptions.reconfirm_days
        store.update_subscriber(
            conn,
            row["id"],
            status=SubscriberStatus.ACTIVE.value,
            confirmed_at=now,
            consented_at=now,
            reconfirm_due_at=now + timedelta(days=days),
            unsubscribed_at=None,
        )
        address_hash = email_hash(row["email"])
        # Fresh, confirmed consent lifts an earlier unsubscribe or erasure (제50조①).
        suppressions.lift(conn, address_hash)
        ledger.record_event(
            conn,
            ConsentKind.CONFIRMATION.value,
            subscriber_id=row["id"],
            email_hash=address_hash,
            at=now,
            ip=ip,
            user_agent=user_agent,
            source=source,
            consent_version=ledger.latest_consent_version(conn, row["id"]),
        )
        notice_store.enqueue(
            conn,
            NoticeKind.WELCOME.value,
            to_address=row["email"],
            subscriber_id=row["id"],
            context={"action_at": now.isoformat()},
            now=now,
        )
        return ConfirmResult(ConfirmState.CONFIRMED, row["token"], row["name"])


def add_subscriber(
    ctx: AppContext,
    email: str,
    /,
    *,
    name: str | None = None,
    organisation: str | None = None,
    confirmed: bool = False,
    source: str = "admin",
    notify: bool = True,
    now: datetime | None = None,
) -> SignupOutcome | str:
    """Staff adds one address. Unconfirmed goes through the double opt-in like a web signup.

    ``confirmed=True`` states that consent was obtained elsewhere (paper form at a
    seminar); the ledger records it with this source, and a result notice is queued
    when ``notify``. Returns "added" or, unconfirmed, the signup outcome.
    """
    if not confirmed:
        return signup(
            ctx,
            email,
            name=name,
            organisation=organisation,
            # Staff states that the person asked to be added; they still confirm by mail.
            consented=True,
            consent_version=None,
            source=source,
            now=now,
        )
    cleaned = require_subscriber(email=email, name=name, organisation=organisation)
    now = now or utcnow()
    days = ctx.settings.subscriptions.reconfirm_days
    with write_transaction(ctx.engine) as conn:
        row = store.by_email(conn, cleaned.email, lock=True)
        if row is not None and SubscriberStatus(row["status"]) in CONSENTED:
            raise InvalidInputError(f"{cleaned.email} is already subscribed", field="email")
        values = {
            "name": cleaned.name,
            "organisation": cleaned.organisation,
            "status": SubscriberStatus.ACTIVE.value,
            "source": source[:100],
            "confirmed_at": now,
            "consented_at": now,
            "reconfirm_due_at": now + timedelta(days=days),
            "unsubscribed_at": None,
        }
        if row is None:
            store.insert_if_absent(
                conn,
                {
                    **values,
                    "email": cleaned.email,
                    "token": new_subscriber_token(),
                    "attributes": {},
                    "created_at": now,
                },
            )
            row = store.by_email(conn, cleaned.email, lock=True)
        else:
            store.update_subscriber(conn, row["id"], **values)
        address_hash = email_hash(cleaned.email)
        suppressions.lift(conn, address_hash)
        for kind in (ConsentKind.CONSENT, ConsentKind.CONFIRMATION):
            ledger.record_event(
                conn,
                kind.value,
                subscriber_id=row["id"],
                email_hash=address_hash,
                at=now,
                source=source,
                detail={"added_by": "staff"},
            )
        if notify:
            notice_store.enqueue(
                conn,
                NoticeKind.WELCOME.value,
                to_address=cleaned.email,
                subscriber_id=row["id"],
                context={"action_at": now.isoformat()},
                now=now,
            )
    return "added"

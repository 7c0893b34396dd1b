"""The subscriber lifecycle: signup, double opt-in, unsubscribe, pause, profile.

Every change is written together with its consent-ledger entry and, where the law
asks for one, a queued notice mail (정보통신망법 제50조⑦: result of consent or
withdrawal within 14 days). Notices are delivered after the change is committed —
never inside a web request — and retried while the relay is down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from mailer.errors import (
    InvalidInputError,
    NotFoundError,
    SignupThrottled,
)
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
from mailer.subscribers.tokens import (
    CONSENTED,
    limit_key,
    lookup_token,
    plausible_token,
    token_hash,
    utcnow,
)
from mailer.subscribers.validation import (
    MAX_NAME_LENGTH,
    MAX_ORGANISATION_LENGTH,
    check_text,
    invalid_subscriber_input,
    require_subscriber,
)

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


# --- signup and confirmation -------------------------------------------------------------


def signup(
    ctx: AppContext,
    email: str,
    /,
    *,
    name: str | None = None,
    organisation: str | None = None,
    consent_version: str | None,
    source: str = "web",
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> SignupOutcome:
    """Record a signup and queue one confirmation mail (double opt-in).

    Raises InvalidSubscriberInput (nothing stored) for bad input and SignupThrottled
    when the IP is over its hourly limit. The per-address limit never raises: it only
    holds back the mail, so the answer cannot tell whether an address is known.
    """
    cleaned = require_subscriber(email=email, name=name, organisation=organisation)
    now = now or utcnow()
    settings = ctx.settings.subscriptions
    with ctx.engine.begin() as conn:
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
    with ctx.engine.begin() as conn:
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
            consent_version=None,
            source=source,
            now=now,
        )
    cleaned = require_subscriber(email=email, name=name, organisation=organisation)
    now = now or utcnow()
    days = ctx.settings.subscriptions.reconfirm_days
    with ctx.engine.begin() as conn:
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


# --- unsubscribe, pause, profile ---------------------------------------------------------


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
    (정보통신망법 제50조⑦).
    """
    now = now or utcnow()
    with ctx.engine.begin() as conn:
        row = lookup_token(conn, token, lock=True)
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
    with ctx.engine.begin() as conn:
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
    address_hash = email_hash(row["email"])
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
    with ctx.engine.begin() as conn:
        row = lookup_token(conn, token, lock=True)
        if row is None:
            raise NotFoundError("subscription", "(token)")
        if row["status"] != have.value:
            return False
        store.update_subscriber(conn, row["id"], status=want.value)
        ledger.record_event(
            conn,
            (ConsentKind.PAUSE if paused else ConsentKind.RESUME).value,
            subscriber_id=row["id"],
            email_hash=email_hash(row["email"]),
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
    clean_name, name_problem = check_text(name, limit=MAX_NAME_LENGTH)
    clean_org, org_problem = check_text(organisation, limit=MAX_ORGANISATION_LENGTH)
    problems = {
        field: problem
        for field, problem in (("name", name_problem), ("organisation", org_problem))
        if problem
    }
    if problems:
        raise invalid_subscriber_input(problems)
    with ctx.engine.begin() as conn:
        row = lookup_token(conn, token, lock=True)
        if row is None or SubscriberStatus(row["status"]) is SubscriberStatus.ERASED:
            raise NotFoundError("subscription", "(token)")
        store.update_subscriber(conn, row["id"], name=clean_name, organisation=clean_org)
        return {**row, "name": clean_name, "organisation": clean_org}


def subscriber_for_token(ctx: AppContext, token: str, /) -> dict | None:
    with ctx.engine.connect() as conn:
        return lookup_token(conn, token)

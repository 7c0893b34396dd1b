"""Signup with double opt-in, and staff adding an address.

A signup is recorded with its consent-ledger entry and one queued confirmation mail;
the click on its link (a POST, never the GET: mail scanners open links) makes the
subscriber active and queues the result notice (정보통신망법 제50조⑦: the result of
consent within 14 days). Notices are delivered after the change is committed — never
inside a web request — and retried while the relay is down.

A signup proves nothing about who typed it until the link is clicked, so a repeat
signup of an address already known — pending, active, paused, unsubscribed — never
changes its stored name or organisation (issue 11: an attacker re-signing a pending
address had the next mail greet its owner with "Claim prize http://evil.example/x님");
only the preferences page, opened with the subscriber's own token, does. The answer
is the same either way. A web signup must name the consent text it showed, and that
text must be the one in force (개인정보보호법 제22조: the ledger proves what was agreed to).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from mailer.errors import InvalidInputError
from mailer.models import ConsentKind, NoticeKind, SubscriberStatus
from mailer.store import consent as ledger
from mailer.store import notices as notice_store
from mailer.store import rate_limits, suppressions
from mailer.store import subscribers as store
from mailer.store.consent_texts import consent_texts_by_version, latest_consent_text
from mailer.store.db import write_transaction
from mailer.subscribers.tokens import (
    CONSENTED,
    current_token,
    limit_key,
    plausible_token,
    renew_token,
    throttle_ip,
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
    ``consent_version`` names the consent text shown; it must be the current one of its
    language, else InvalidInputError (field ``consent_version`` when it is missing,
    ``consent`` when it is not the text in force) and nothing is stored.
    Raises InvalidSubscriberInput (nothing stored) for bad input, every field's problem
    at once, and SignupThrottled when the IP is over its hourly limit. The per-address
    limit never raises: it only holds back the mail, so the answer cannot tell whether
    an address is known.
    """
    if not consent_version:
        raise InvalidInputError(
            "the version of the consent text shown is required", field="consent_version"
        )
    return _signup(
        ctx,
        email,
        name=name,
        organisation=organisation,
        consented=consented,
        consent_version=consent_version,
        source=source,
        ip=ip,
        user_agent=user_agent,
        now=now,
    )


def _signup(
    ctx: AppContext,
    email: str,
    /,
    *,
    name: str | None,
    organisation: str | None,
    consented: bool,
    consent_version: str | None,
    source: str,
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None,
) -> SignupOutcome:
    """A signup; ``consent_version`` None only when staff add an address (no text was shown)."""
    cleaned = check_signup(email=email, name=name, organisation=organisation, consented=consented)
    now = now or utcnow()
    settings = ctx.settings.subscriptions
    with write_transaction(ctx.engine) as conn:
        if consent_version is not None and not _is_current_consent(conn, consent_version):
            raise InvalidInputError(
                "the consent text shown is not the one in force", field="consent"
            )
        throttle_ip(ctx, conn, "ip", ip, now=now)
        row = store.by_email(conn, cleaned.email, lock=True)
        inserted = False
        if row is None:
            values = {
                "email": cleaned.email,
                "name": cleaned.name,
                "organisation": cleaned.organisation,
                "status": SubscriberStatus.PENDING.value,
                **ctx.keys.new_link(),
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
            # The name and organisation stay as stored (see the module docstring).
            store.update_subscriber(
                conn,
                row["id"],
                status=SubscriberStatus.PENDING.value,
                source=source[:100],
                confirm_sent_at=now,
            )
        ledger.record_event(
            conn,
            ConsentKind.CONSENT.value,
            subscriber_id=row["id"],
            email_hash=ctx.keys.address_key(row["email"]),
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


def _is_current_consent(conn: Connection, version: str) -> bool:
    """True when ``version`` is the newest consent text of its language (the one shown now)."""
    found = consent_texts_by_version(conn, [version]).get(version)
    if found is None:
        return False
    current = latest_consent_text(conn, language=found["language"])
    return current is not None and current["version"] == version


def check_confirmation(
    ctx: AppContext, token: str, /, *, now: datetime | None = None
) -> ConfirmResult:
    """What a confirmation link would do, without doing it (for the GET page)."""
    now = now or utcnow()
    with ctx.engine.connect() as conn:
        return _confirmation_state(ctx, conn, token, now=now, lock=False)[0]


def _confirmation_state(
    ctx: AppContext, conn: Connection, token: str, *, now: datetime, lock: bool
) -> tuple[ConfirmResult, dict | None]:
    if not plausible_token(token):
        return ConfirmResult(ConfirmState.INVALID), None
    row = store.by_confirm_hash(conn, token_hash(token), lock=lock)
    if row is None:
        return ConfirmResult(ConfirmState.INVALID), None
    status = SubscriberStatus(row["status"])
    if status in CONSENTED:
        return ConfirmResult(ConfirmState.ALREADY, current_token(ctx, row), row["name"]), row
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
        result, row = _confirmation_state(ctx, conn, token, now=now, lock=True)
        if result.state is not ConfirmState.VALID or row is None:
            return result
        if row["confirmed_at"] is not None:  # consent again, after a withdrawal
            row = renew_token(ctx, conn, row, now=now)
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
        address_hash = ctx.keys.address_key(row["email"])
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
        return ConfirmResult(ConfirmState.CONFIRMED, current_token(ctx, row), row["name"])


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
        return _signup(
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
        profile = {"name": cleaned.name, "organisation": cleaned.organisation}
        values: dict[str, Any] = {
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
                    **profile,
                    "email": cleaned.email,
                    **ctx.keys.new_link(),
                    "attributes": {},
                    "created_at": now,
                },
            )
            row = store.by_email(conn, cleaned.email, lock=True)
        else:
            # Staff fill in what the person left empty, and overwrite nothing they gave.
            missing = {key: value for key, value in profile.items() if value and not row[key]}
            store.update_subscriber(conn, row["id"], **values, **missing)
        address_hash = ctx.keys.address_key(cleaned.email)
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

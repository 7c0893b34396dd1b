"""The subscriber lifecycle: signup, double opt-in, unsubscribe, pause, erasure, re-confirmation, purge.

Every change is written together with its consent-ledger entry and, where the law
asks for one, a queued notice mail (정보통신망법 제50조⑦: result of consent or
withdrawal within 14 days; ⑧ and 시행령 제62조의3: re-confirmation every 2 years).
Notices are sent by :func:`deliver_notices` after the change is committed — never
inside a web request — and retried while the relay is down.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from mailer.errors import (
    DeliveryError,
    InvalidInputError,
    MailerError,
    NotFoundError,
    SignupThrottled,
    TransportError,
)
from mailer.mail.compose import compose, message_bytes, needs_smtputf8, open_connection, send_bytes
from mailer.mail.prepared import DkimSigner
from mailer.models import (
    ConsentKind,
    Links,
    NoticeKind,
    SubscriberStatus,
    email_hash,
    new_subscriber_token,
)
from mailer.render.notices import local_time, render_notice
from mailer.store import consent as ledger
from mailer.store import notices as notice_store
from mailer.store import rate_limits, suppressions
from mailer.store import subscribers as store
from mailer.store.consent_texts import consent_texts_by_version
from mailer.subscribers.validation import (
    MAX_NAME_LENGTH,
    MAX_ORGANISATION_LENGTH,
    check_text,
    invalid_subscriber_input,
    require_subscriber,
    smtp_address,
)

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext

log = logging.getLogger("mailer.subscriptions")

#: Tokens longer than this are not ours; refuse before touching the database.
MAX_TOKEN_LENGTH = 128

_CONSENTED = (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED)
_TOKEN_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


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


async def run_db(ctx: AppContext, function, /, *args, **kwargs):
    """Run blocking store work off the event loop (see ``store.offloop``)."""
    return await ctx.database.run(function, *args, **kwargs)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _limit_key(ctx: AppContext, kind: str, value: str) -> str:
    """Rate-limit keys are keyed hashes: the counters table holds no address or IP in clear."""
    digest = hmac.new(ctx.rate_limit_key, value.encode(), hashlib.sha256)
    return f"{kind}:{digest.hexdigest()[:40]}"


def _plausible_token(token: str | None) -> bool:
    """Our tokens are URL-safe base64; anything else (NUL, non-ASCII, huge) is not worth a query."""
    return (
        bool(token)
        and len(token) <= MAX_TOKEN_LENGTH
        and _TOKEN_ALPHABET.fullmatch(token) is not None
    )


def _lookup_token(conn: Connection, token: str | None, *, lock: bool = False) -> dict | None:
    """The subscriber holding this unsubscribe/preferences token, compared in constant time."""
    if not _plausible_token(token):
        return None
    row = store.by_token(conn, token, lock=lock)
    if row is None or not hmac.compare_digest(row["token"].encode(), token.encode()):
        return None
    return row


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
                conn, _limit_key(ctx, "ip", ip), now=now, window=timedelta(hours=1)
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
                _limit_key(ctx, "address", cleaned.email),
                now=now,
                window=timedelta(seconds=settings.per_address_interval),
            )
            == 1
        )
        if SubscriberStatus(row["status"]) in _CONSENTED:
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
    if not _plausible_token(token):
        return ConfirmResult(ConfirmState.INVALID), None
    row = store.by_confirm_hash(conn, _token_hash(token), lock=lock)
    if row is None:
        return ConfirmResult(ConfirmState.INVALID), None
    status = SubscriberStatus(row["status"])
    if status in _CONSENTED:
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
        if row is not None and SubscriberStatus(row["status"]) in _CONSENTED:
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
        row = _lookup_token(conn, token, lock=True)
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
    if notify and status in _CONSENTED:
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
        row = _lookup_token(conn, token, lock=True)
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
        row = _lookup_token(conn, token, lock=True)
        if row is None or SubscriberStatus(row["status"]) is SubscriberStatus.ERASED:
            raise NotFoundError("subscription", "(token)")
        store.update_subscriber(conn, row["id"], name=clean_name, organisation=clean_org)
        return {**row, "name": clean_name, "organisation": clean_org}


def subscriber_for_token(ctx: AppContext, token: str, /) -> dict | None:
    with ctx.engine.connect() as conn:
        return _lookup_token(conn, token)


def personal_data(ctx: AppContext, token: str, /) -> dict | None:
    """Everything held about the token's holder, as JSON-ready data (개인정보보호법 제35조, GDPR Art. 15/20)."""
    with ctx.engine.connect() as conn:
        row = _lookup_token(conn, token)
        if row is None:
            return None
        events = ledger.events_for(conn, email_hash=email_hash(row["email"]))
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
    now: datetime | None = None,
) -> bool:
    """Destroy the subscriber's personal data, keep a hashed suppression entry, log the erasure.

    Give ``token`` (preferences page) or ``email`` (staff). The consent ledger keeps
    its event skeleton with IP and user agent blanked. A result notice goes to the
    address when ``notify`` and the person had consented; the address is dropped
    from the queue once that mail is sent. Returns False if nobody matched.
    """
    now = now or utcnow()
    with ctx.engine.begin() as conn:
        if token is not None:
            row = _lookup_token(conn, token, lock=True)
        else:
            cleaned = require_subscriber(email=email or "")
            row = store.by_email(conn, cleaned.email, lock=True)
        if row is None:
            return False
        status = SubscriberStatus(row["status"])
        _erase_row(
            conn,
            row,
            now=now,
            source=source,
            suppress_reason="erased",
            notify=notify and status in (*_CONSENTED, SubscriberStatus.UNSUBSCRIBED),
        )
        return True


def _erase_row(
    conn: Connection,
    row: dict,
    *,
    now: datetime,
    source: str,
    suppress_reason: str | None,
    notify: bool,
    detail: dict[str, Any] | None = None,
) -> None:
    address_hash = email_hash(row["email"])
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
    - spent rate-limit windows and finished notices are dropped.
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
            with ctx.engine.begin() as conn:
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
                        now=now,
                        source="retention",
                        suppress_reason=suppress_reason,
                        notify=False,
                        detail={"reason": why},
                    )
                    removed += 1
            if len(ids) < 200:
                break
    with ctx.engine.begin() as conn:
        rate_limits.forget_before(conn, now - timedelta(days=1))
        notice_store.forget_finished_before(conn, now - timedelta(days=30))
    return removed


# --- re-confirmation ---------------------------------------------------------------------


async def send_due_reconfirmations(ctx: AppContext, /, *, now: datetime | None = None) -> int:
    """Queue the two-yearly consent notice for everyone due, then deliver queued notices.

    Returns how many re-confirmation notices were queued by this call. The next due
    date advances in the same transaction, so two schedulers never queue one twice;
    a notice the relay refuses now stays queued and is retried.
    """
    now = now or utcnow()
    queued = await run_db(ctx, _queue_reconfirmations, ctx, now)
    await deliver_notices(ctx, now=now)
    return queued


def _queue_reconfirmations(ctx: AppContext, now: datetime) -> int:
    interval = timedelta(days=ctx.settings.subscriptions.reconfirm_days)
    queued = 0
    while True:
        with ctx.engine.begin() as conn:
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


# --- notice delivery ---------------------------------------------------------------------


class _NotNeeded(Exception):
    """The notice lost its purpose (subscriber gone, or already confirmed)."""


#: Notice mails go out over at most this many SMTP connections at once (and never more
#: than ``smtp.connections``); aiosmtplib serialises sends per connection.
NOTICE_LANES = 4


async def deliver_notices(
    ctx: AppContext,
    /,
    *,
    now: datetime | None = None,
    limit: int = 200,
    lanes: int = NOTICE_LANES,
) -> int:
    """Send queued notice mails that are due; returns how many were sent.

    The batch is shared out over up to ``lanes`` SMTP connections. A relay that is down defers
    the rest of a connection's share with exponential backoff; a temporary refusal
    defers that notice; a permanent refusal fails that notice only.
    """
    now = now or utcnow()
    # Loaded before claiming: a DKIM misconfiguration stops the round (ConfigError)
    # instead of failing every notice it would have claimed.
    signer = _notice_signer(ctx)
    claimed = await run_db(ctx, _claim, ctx, now, limit)
    if not claimed:
        return 0
    lanes = max(1, min(lanes, ctx.settings.smtp.connections, len(claimed)))
    shares = [claimed[lane::lanes] for lane in range(lanes)]
    results = await asyncio.gather(*(_deliver_share(ctx, share, now, signer) for share in shares))
    return sum(results)


def _notice_signer(ctx: AppContext) -> DkimSigner | None:
    """The digest's DKIM signer, loaded once per context; None when signing is off."""
    return ctx.dkim_signer.get()


async def _deliver_share(
    ctx: AppContext, share: list[dict], now: datetime, signer: DkimSigner | None
) -> int:
    settings = ctx.settings
    client = None
    sent = 0
    try:
        for index, notice in enumerate(share):
            sender = settings.compliance.from_address
            try:
                message = await run_db(ctx, _build_notice, ctx, notice, now)
                recipient = smtp_address(notice["to_address"])
                data = message_bytes(message, utf8=needs_smtputf8(sender, recipient))
                if signer is not None:
                    # Notices carry List-Unsubscribe(-Post) too; RFC 8058 §4 wants them
                    # covered by a DKIM signature, as on the digest.
                    data = signer.sign(data)
            except _NotNeeded as exc:
                await run_db(ctx, _finish, ctx, notice, failed=str(exc))
                continue
            except (MailerError, ValueError) as exc:
                # A broken template or an address the mail library refuses fails this
                # notice only; it would fail the same way on every retry.
                log.error("notice %s (%s) cannot be built: %s", notice["id"], notice["kind"], exc)
                await run_db(ctx, _finish, ctx, notice, failed=f"cannot be built: {exc}")
                continue
            try:
                if client is None:
                    client = await open_connection(settings.smtp)
                await send_bytes(client, data, sender=sender, recipients=[recipient])
            except DeliveryError as exc:
                log.warning("notice %s (%s) not sent: %s", notice["id"], notice["kind"], exc)
                if client is not None:
                    client.close()  # start the next notice on a fresh session
                    client = None
                if isinstance(exc, TransportError):
                    # The relay itself is unusable: the rest of this share waits too.
                    await run_db(ctx, _defer, ctx, share[index:], now, str(exc))
                    return sent
                if exc.temporary:
                    await run_db(ctx, _defer, ctx, [notice], now, str(exc))
                else:
                    await run_db(ctx, _finish, ctx, notice, failed=str(exc))
                continue
            await run_db(ctx, _finish, ctx, notice, sent_at=now)
            sent += 1
    finally:
        if client is not None:
            try:
                await client.quit()
            except Exception:  # noqa: BLE001 — closing a broken connection may fail any way
                client.close()
    return sent


def _claim(ctx: AppContext, now: datetime, limit: int) -> list[dict]:
    """Claim due notices; one already tried for longer than ``notice_retry_for`` is failed instead.

    Besides deferrals (see :func:`_defer`), this catches a notice whose round never
    recorded an outcome (the process died, or the round broke): it is claimed again
    only until its time is up, never for ever.
    """
    give_up_before = now - timedelta(seconds=ctx.settings.subscriptions.notice_retry_for)
    with ctx.engine.begin() as conn:
        claimed = notice_store.claim_due(
            conn, now=now, stale_before=now - timedelta(minutes=10), limit=limit
        )
        due = []
        for notice in claimed:
            # attempts counts this claim: the first try is always made.
            if notice["attempts"] > 1 and notice["created_at"] < give_up_before:
                error = notice["last_error"] or "no outcome recorded"
                notice_store.mark_failed(
                    conn,
                    notice["id"],
                    error=f"gave up after {notice['attempts'] - 1} attempts: {error}",
                )
            else:
                due.append(notice)
        return due


def _defer(ctx: AppContext, batch: list[dict], now: datetime, error: str) -> None:
    settings = ctx.settings.subscriptions
    with ctx.engine.begin() as conn:
        for notice in batch:
            if now - notice["created_at"] > timedelta(seconds=settings.notice_retry_for):
                notice_store.mark_failed(conn, notice["id"], error=f"gave up: {error}")
                continue
            attempts = max(notice["attempts"], 1)
            delay = min(
                settings.notice_backoff_base * 2 ** (attempts - 1), settings.notice_backoff_max
            )
            delay *= random.uniform(0.8, 1.2)  # jitter: retries of many notices spread out
            notice_store.mark_deferred(
                conn, notice["id"], retry_at=now + timedelta(seconds=delay), error=error
            )


def _finish(
    ctx: AppContext, notice: dict, *, sent_at: datetime | None = None, failed: str | None = None
) -> None:
    with ctx.engine.begin() as conn:
        if sent_at is not None:
            notice_store.mark_sent(conn, notice["id"], at=sent_at)
            ledger.record_event(
                conn,
                ConsentKind.NOTICE.value,
                subscriber_id=notice["subscriber_id"],
                email_hash=email_hash(notice["to_address"]),
                at=sent_at,
                source="mail",
                detail={"notice": notice["kind"]},
            )
        else:
            notice_store.mark_failed(conn, notice["id"], error=failed or "failed")


def _build_notice(ctx: AppContext, notice: dict, now: datetime):
    """Render the notice; for a confirmation, mint the link's token now (only its hash is kept)."""
    settings = ctx.settings
    compliance = settings.compliance
    links = Links(settings.base_url)
    kind = NoticeKind(notice["kind"])
    zone = settings.zone
    variables: dict[str, Any] = {
        "list_name": compliance.list_name,
        "sender_name": compliance.sender_name,
        "sender_name_en": compliance.sender_name_en,
        "postal_address": compliance.postal_address,
        "phone": compliance.phone,
        "contact_email": compliance.email,
        "subscribe_url": links.subscribe(),
        "name": None,
        "preferences_url": None,
        "unsubscribe_url": None,
        "retention_days": _days(settings.subscriptions.unsubscribed_retention_days),
        "pending_days": settings.subscriptions.pending_retention_days,
    }
    action_at = (notice.get("context") or {}).get("action_at")
    variables["action_at"] = local_time(
        datetime.fromisoformat(action_at) if action_at else notice["created_at"], zone
    )
    headers = {"Auto-Submitted": "auto-generated"}  # RFC 3834: no auto-replies to this
    if notice["subscriber_id"] is not None:
        with ctx.engine.begin() as conn:
            row = store.by_id(conn, notice["subscriber_id"], lock=True)
            if row is None:
                raise _NotNeeded("subscriber no longer exists")
            status = SubscriberStatus(row["status"])
            variables["name"] = row["name"]
            if kind is NoticeKind.CONFIRM:
                if status is not SubscriberStatus.PENDING:
                    raise _NotNeeded(f"subscriber is {status.value}")
                raw = secrets.token_urlsafe(32)
                expires = now + timedelta(hours=settings.subscriptions.confirm_ttl_hours)
                store.update_subscriber(
                    conn,
                    row["id"],
                    confirm_token_hash=_token_hash(raw),
                    confirm_expires_at=expires,
                    confirm_sent_at=now,
                )
                variables["confirm_url"] = links.confirm(raw)
                variables["expires_at"] = local_time(expires, zone)
            elif kind in (NoticeKind.WELCOME, NoticeKind.ALREADY, NoticeKind.RECONFIRM):
                if status not in _CONSENTED:
                    raise _NotNeeded(f"subscriber is {status.value}")
                variables["preferences_url"] = links.preferences(row["token"])
                variables["unsubscribe_url"] = links.unsubscribe(row["token"])
                variables["consented_at"] = local_time(row["consented_at"], zone)
                # RFC 8058: mailbox providers show their own unsubscribe button for these.
                headers["List-Unsubscribe"] = f"<{links.unsubscribe(row['token'])}>"
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
                headers["List-Id"] = f"<{compliance.list_id}>"
    elif kind in (NoticeKind.CONFIRM, NoticeKind.WELCOME, NoticeKind.ALREADY, NoticeKind.RECONFIRM):
        raise _NotNeeded("subscriber no longer exists")
    rendered = render_notice(settings.templates_dir, kind.template, variables)
    return compose(
        compliance,
        to=smtp_address(notice["to_address"]),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        headers=headers,
    )


def _days(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


# --- reading -----------------------------------------------------------------------------


def iter_subscribers(ctx: AppContext, /, *, statuses: list[str] | None = None):
    """Every subscriber (optionally of some statuses), streamed for export and listing."""
    with ctx.engine.connect() as conn:
        yield from store.iter_subscribers(conn, statuses=statuses)


def status_counts(ctx: AppContext, /) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return store.count_by_status(conn)


def notice_counts(ctx: AppContext, /) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return notice_store.counts(conn)


__all__ = [
    "ConfirmResult",
    "ConfirmState",
    "SignupOutcome",
    "SignupThrottled",
    "add_subscriber",
    "check_confirmation",
    "confirm",
    "deliver_notices",
    "erase",
    "personal_data",
    "purge_expired",
    "send_due_reconfirmations",
    "set_paused",
    "signup",
    "subscriber_for_token",
    "unsubscribe",
    "unsubscribe_address",
    "update_profile",
]

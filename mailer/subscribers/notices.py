"""Notice mails (confirmation, results, re-confirmation): build and deliver what is queued."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mailer.errors import (
    DeliveryError,
    MailerError,
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
)
from mailer.render import local_time, render_notice
from mailer.store import consent as ledger
from mailer.store import notices as notice_store
from mailer.store import subscribers as store
from mailer.subscribers.tokens import (
    CONSENTED,
    token_hash,
    utcnow,
)
from mailer.subscribers.validation import (
    smtp_address,
)

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


log = logging.getLogger("mailer.subscribers")


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
    claimed = await ctx.database.run(_claim, ctx, now, limit)
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
                message = await ctx.database.run(_build_notice, ctx, notice, now)
                recipient = smtp_address(notice["to_address"])
                data = message_bytes(message, utf8=needs_smtputf8(sender, recipient))
                if signer is not None:
                    # Notices carry List-Unsubscribe(-Post) too; RFC 8058 §4 wants them
                    # covered by a DKIM signature, as on the digest.
                    data = signer.sign(data)
            except _NotNeeded as exc:
                await ctx.database.run(_finish, ctx, notice, failed=str(exc))
                continue
            except (MailerError, ValueError) as exc:
                # A broken template or an address the mail library refuses fails this
                # notice only; it would fail the same way on every retry.
                log.error("notice %s (%s) cannot be built: %s", notice["id"], notice["kind"], exc)
                await ctx.database.run(_finish, ctx, notice, failed=f"cannot be built: {exc}")
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
                    await ctx.database.run(_defer, ctx, share[index:], now, str(exc))
                    return sent
                if exc.temporary:
                    await ctx.database.run(_defer, ctx, [notice], now, str(exc))
                else:
                    await ctx.database.run(_finish, ctx, notice, failed=str(exc))
                continue
            await ctx.database.run(_finish, ctx, notice, sent_at=now)
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
                    confirm_token_hash=token_hash(raw),
                    confirm_expires_at=expires,
                    confirm_sent_at=now,
                )
                variables["confirm_url"] = links.confirm(raw)
                variables["expires_at"] = local_time(expires, zone)
            elif kind in (NoticeKind.WELCOME, NoticeKind.ALREADY, NoticeKind.RECONFIRM):
                if status not in CONSENTED:
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

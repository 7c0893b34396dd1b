"""Notice mails (confirmation, results, re-confirmation): what each one says.

The subscribers step queues notices in the ``notices`` table and builds each one's
message; sending is the delivery step's, by the same worker, SMTP pool and retry
policy as the digests (mailer.delivery). The two steps do not import each other:
bootstrap hands :func:`build_notice` to the worker as ``ctx.build_notice``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mailer.context import NotNeeded
from mailer.keys import new_access_token
from mailer.mail import compose, smtp_address
from mailer.models import Links, NoticeKind, Sender, SubscriberStatus, retention_days_text
from mailer.render import local_time, render_notice
from mailer.store import link_tokens
from mailer.store import subscribers as store
from mailer.store.db import write_transaction
from mailer.store.seminar_versions import active_version
from mailer.subscribers.tokens import CONSENTED, current_token, renew_token, token_hash

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from email.message import EmailMessage

    from mailer.context import AppContext
    from mailer.store.notices import ClaimedNotice


def build_notice(
    ctx: AppContext, notice: ClaimedNotice, /, *, now: datetime
) -> EmailMessage | NotNeeded:
    """Render a claimed notice; a confirmation or data link gets its token now (only its hash is kept).

    The delivery worker calls this (as ``ctx.build_notice``) once the notice is marked
    ``sending``; :class:`NotNeeded` says the notice lost its purpose (the subscriber is
    gone or no longer in the state it was written for). The re-confirmation notice
    comes with a new preferences token (issue 11, item 8): a token leaked with an
    older, forwarded mail then only unsubscribes.
    """
    settings = ctx.settings
    compliance = settings.compliance
    links = Links(settings.base_url)
    kind = NoticeKind(notice.kind)
    zone = settings.zone
    sender = _sender(ctx)
    variables: dict[str, Any] = {
        "list_name": compliance.list_name,
        "sender_name": sender.name,
        "sender_name_en": sender.name_en,
        "postal_address": sender.postal_address,
        "phone": sender.phone,
        "contact_email": sender.email,
        "subscribe_url": links.subscribe(),
        "name": None,
        "preferences_url": None,
        "unsubscribe_url": None,
        "retention_days": retention_days_text(settings.subscriptions),
        "pending_days": settings.subscriptions.pending_retention_days,
    }
    action_at = (notice.context or {}).get("action_at")
    variables["action_at"] = local_time(
        datetime.fromisoformat(action_at) if action_at else notice.created_at, zone
    )
    headers = {"Auto-Submitted": "auto-generated"}  # RFC 3834: no auto-replies to this
    if notice.subscriber_id is not None:
        with write_transaction(ctx.engine) as conn:
            row = store.by_id(conn, notice.subscriber_id, lock=True)
            if row is None:
                return NotNeeded("subscriber no longer exists")
            status = SubscriberStatus(row["status"])
            variables["name"] = row["name"]
            if kind is NoticeKind.CONFIRM:
                if status is not SubscriberStatus.PENDING:
                    return NotNeeded(f"subscriber is {status.value}")
                raw = new_access_token()
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
            elif kind is NoticeKind.DATA_LINK:
                raw = new_access_token()
                expires = now + timedelta(hours=settings.subscriptions.data_link_hours)
                link_tokens.add_token(
                    conn,
                    row["id"],
                    token_hash(raw),
                    opens=link_tokens.Opens.DATA,
                    now=now,
                    expires_at=expires,
                )
                variables["data_url"] = links.data_access(raw)
                variables["expires_at"] = local_time(expires, zone)
            elif kind is NoticeKind.UNSUBSCRIBE_LINK:
                # Asked for by address after a link could not be verified: the
                # current token's unsubscribe page, whose button confirms (issue 15).
                if status not in CONSENTED:
                    return NotNeeded(f"subscriber is {status.value}")
                variables["unsubscribe_url"] = links.unsubscribe(current_token(ctx, row))
            elif kind in (NoticeKind.WELCOME, NoticeKind.ALREADY, NoticeKind.RECONFIRM):
                if status not in CONSENTED:
                    return NotNeeded(f"subscriber is {status.value}")
                if kind is NoticeKind.RECONFIRM:
                    row = renew_token(ctx, conn, row, now=now)
                token = current_token(ctx, row)
                variables["preferences_url"] = links.preferences(token)
                variables["unsubscribe_url"] = links.unsubscribe(token)
                variables["consented_at"] = local_time(row["consented_at"], zone)
                # RFC 8058: mailbox providers show their own unsubscribe button for these.
                headers["List-Unsubscribe"] = f"<{links.unsubscribe(token)}>"
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
                headers["List-Id"] = f"<{compliance.list_id}>"
    elif kind in _FOR_A_SUBSCRIBER:
        return NotNeeded("subscriber no longer exists")
    rendered = render_notice(ctx.notice_renderer.get(), kind.template, variables)
    return compose(
        compliance,
        to=smtp_address(notice.to_address),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        headers=headers,
    )


def _sender(ctx: AppContext) -> Sender:
    """The footer staff saved with the seminar block (/admin/seminar); else ``[compliance]``."""
    with ctx.engine.connect() as conn:
        version = active_version(conn)
    part = (version or {}).get("document", {}).get("sender")
    compliance = ctx.settings.compliance
    return Sender.from_part(part, compliance) if isinstance(part, dict) else Sender.of(compliance)


#: Notices that make sense only while their subscriber exists.
_FOR_A_SUBSCRIBER = (
    NoticeKind.CONFIRM,
    NoticeKind.WELCOME,
    NoticeKind.ALREADY,
    NoticeKind.RECONFIRM,
    NoticeKind.DATA_LINK,
    NoticeKind.UNSUBSCRIBE_LINK,
)

"""Test edition: the template editor's preview sent to the staff member's own address, as a digest goes out.

The editor's "시험 발송" button (issue 12 item 4) must prove what subscribers will
get, so the message is built by the digest's own builder (``prepare_edition`` and
``personalise``: the same headers, List-Unsubscribe, quoted-printable parts and DKIM
signature) and leaves over a :class:`mailer.mail.RelayConnection`, as the worker
sends. The recipient is always the logged-in account's own address, never a
parameter, so the button cannot be used to mail anyone else.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Protocol

from mailer.context import AppContext
from mailer.errors import InvalidInputError
from mailer.mail import (
    Recipient,
    RelayConnection,
    needs_smtputf8,
    personalise,
    prepare_edition,
    smtp_address,
)
from mailer.roles import require
from mailer.store import staff_sessions as audit_store
from mailer.store.db import write_transaction

#: Marks the copy in the staff member's inbox, so it is never taken for a real edition.
SUBJECT_PREFIX = "[시험 발송] "

#: The link token the test copy's unsubscribe links carry: it matches no subscriber,
#: so following one from the test mail changes nothing.
TEST_TOKEN = "test-edition-not-a-subscriber"


class Account(Protocol):
    email: str
    role: str


async def send_test_edition(
    ctx: AppContext,
    account: Account,
    /,
    *,
    subject: str,
    html: str,
    text: str,
    client: str | None = None,
) -> str:
    """Send the rendered parts to ``account.email``; return the relay's reply or raise DeliveryError.

    ``subject``, ``html`` and ``text`` are the editor's rendered preview (personal-field
    markers allowed: they are filled for the staff member). PermissionDenied unless the
    role has ``test_send_to_self``; InvalidInputError (field "text") without a text part.
    """
    require(account, "test_send_to_self")
    if not text.strip():
        raise InvalidInputError(
            "텍스트 본문이 비어 있습니다 / the text part is empty", field="text"
        )
    # A random Message-ID part: mail providers drop a second message with the same id.
    edition = {"id": 0, "subject": SUBJECT_PREFIX + subject, "html": html, "text": text}
    prepared = prepare_edition(
        ctx.settings, edition, message_id_part="test-" + secrets.token_hex(6)
    )
    recipient = smtp_address(account.email)
    data = personalise(
        prepared, Recipient(subscriber_id=0, email=account.email, name=None, token=TEST_TOKEN)
    )
    sender = ctx.settings.compliance.from_address
    utf8 = needs_smtputf8(sender, recipient)
    connection = RelayConnection(ctx.settings.smtp)
    try:
        reply = await connection.deliver(data, sender=sender, recipient=recipient, utf8=utf8)
    finally:
        await connection.close()
    await ctx.database.run(_audit, ctx, account, subject, client)
    return reply


def _audit(ctx: AppContext, account: Account, subject: str, client: str | None) -> None:
    with write_transaction(ctx.engine) as conn:
        audit_store.append_audit(
            conn,
            at=datetime.now(UTC),
            actor=account.email,
            action="template.test_send",
            client_address=client,
            target=account.email,
            detail={"after": {"subject": subject[:200]}},
        )

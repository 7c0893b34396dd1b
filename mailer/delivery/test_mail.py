"""Test mail: one short message over the connection the delivery worker uses, to check the mail path.

It goes out as a notice does — composed, DKIM-signed when DKIM is on, sent by a
:class:`mailer.mail.RelayConnection` — so a test message that arrives proves the
path digests and notices take, relay or built-in outbox alike.
"""

from __future__ import annotations

from mailer.context import AppContext
from mailer.errors import InvalidInputError
from mailer.mail import RelayConnection, compose, needs_smtputf8, smtp_address, wire_bytes

SUBJECT = "mailer 시험 메일 / test message"
TEXT = "메일 경로가 동작합니다.\nThe mail path works.\n"


async def send_test_mail(ctx: AppContext, address: str, /) -> str:
    """Send the test message to ``address``; return the relay's reply or raise DeliveryError.

    Raises InvalidInputError (field "address") for anything but one plain address:
    the mail library refuses CR/LF (header injection) and malformed addresses.
    """
    try:
        message = compose(ctx.settings.compliance, to=address, subject=SUBJECT, text=TEXT)
        recipients = [item.addr_spec for item in message["To"].addresses]
    except ValueError as exc:
        raise InvalidInputError(f"invalid recipient address: {exc}", field="address") from None
    if len(recipients) != 1 or "@" not in recipients[0]:
        raise InvalidInputError(
            f"invalid recipient address: {address!r} is not one address", field="address"
        )
    # A broken DKIM set-up is a ConfigError here, as it stops the worker.
    signer = ctx.dkim_signer.get()
    sender = ctx.settings.compliance.from_address
    recipient = smtp_address(recipients[0])
    utf8 = needs_smtputf8(sender, recipient)
    connection = RelayConnection(ctx.settings.smtp)
    try:
        return await connection.deliver(
            wire_bytes(message, utf8=utf8, signer=signer),
            sender=sender,
            recipient=recipient,
            utf8=utf8,
        )
    finally:
        await connection.close()

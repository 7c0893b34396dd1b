"""SMTP adapter: open aiosmtplib connections to the relay (or the built-in outbox) and send bytes.

There is one code path for a real relay and for the built-in outbox, so what a
newcomer sees in ``var/outbox/`` went through exactly what production uses.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage

import aiosmtplib

from mailer.config import SmtpSettings
from mailer.errors import DeliveryError, TransportError
from mailer.mail.message import message_bytes, needs_smtputf8


def relay_address(smtp: SmtpSettings) -> tuple[str, int]:
    """Where mail goes: the configured relay, or the built-in outbox on loopback."""
    return (smtp.host or "127.0.0.1", smtp.effective_port)


async def open_connection(smtp: SmtpSettings) -> aiosmtplib.SMTP:
    """Connect, negotiate TLS as configured and log in; raise TransportError if the relay is unusable."""
    host, port = relay_address(smtp)
    # start_tls=False for "none": aiosmtplib's default (None) upgrades opportunistically,
    # which a network attacker can strip; we make the choice explicit instead.
    client = aiosmtplib.SMTP(
        hostname=host,
        port=port,
        timeout=smtp.timeout,
        use_tls=smtp.tls == "tls",
        start_tls=smtp.tls == "starttls",
        tls_context=ssl.create_default_context() if smtp.tls != "none" else None,
    )
    try:
        await client.connect()
        if smtp.username:
            password = smtp.password.get_secret_value() if smtp.password else ""
            await client.login(smtp.username, password)
    except aiosmtplib.SMTPAuthenticationError as exc:
        client.close()
        raise TransportError(
            f"relay refused authentication: {exc.code} {exc.message}", code=exc.code
        ) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        client.close()
        raise TransportError(f"cannot connect to relay {host}:{port}: {exc}") from exc
    except BaseException:
        # Cancelled (a stopping worker gives back a message still waiting for its
        # connection): close the half-open socket rather than leak it.
        client.close()
        raise
    return client


def classify(exc: Exception) -> DeliveryError:
    """Turn an aiosmtplib/socket error into a DeliveryError that says whether to retry."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        first = exc.recipients[0]
        return DeliveryError(
            f"{first.code} {first.message}", code=first.code, temporary=first.code < 500
        )
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        # For example an internationalised address (SMTPUTF8, RFC 6531) the relay cannot take.
        return DeliveryError(f"relay cannot take this message: {exc}", temporary=False)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(f"{exc.code} {exc.message}", code=exc.code, temporary=exc.code < 500)
    if isinstance(exc, (aiosmtplib.SMTPException, OSError, TimeoutError)):
        return TransportError(f"connection error: {exc.__class__.__name__}: {exc}")
    raise exc


async def send_bytes(
    client: aiosmtplib.SMTP, data: bytes, /, *, sender: str, recipients: list[str]
) -> str:
    """Send prepared message bytes on an open connection; return the relay's reply or raise DeliveryError."""
    # An address with a non-ASCII local part needs SMTPUTF8 (RFC 6531); aiosmtplib's
    # sendmail() does not add the option by itself, unlike send_message().
    options = ["SMTPUTF8"] if needs_smtputf8(sender, *recipients) else []
    try:
        _refused, reply = await client.sendmail(sender, recipients, data, mail_options=options)
    except Exception as exc:  # noqa: BLE001 — classify re-raises what it does not know
        raise classify(exc) from exc
    return reply


async def send_message(smtp: SmtpSettings, message: EmailMessage, /) -> str:
    """One-shot: connect, send one message, quit. For notices and test mail, not bulk sends."""
    client = await open_connection(smtp)
    try:
        sender = message["Sender"] or message["From"].addresses[0].addr_spec
        recipients = [address.addr_spec for address in message["To"].addresses]
        data = message_bytes(message, utf8=needs_smtputf8(sender, *recipients))
        return await send_bytes(client, data, sender=sender, recipients=recipients)
    finally:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()

"""SMTP adapter: open aiosmtplib connections to the relay (or the built-in outbox) and send bytes.

There is one code path for a real relay and for the built-in outbox, so what a
newcomer sees in ``var/outbox/`` went through exactly what production uses.
"""

from __future__ import annotations

import ssl
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import SMTPUTF8 as SMTPUTF8_POLICY
from email.utils import format_datetime, formataddr, make_msgid

import aiosmtplib
from email_validator import EmailNotValidError, validate_email

from mailer.config import ComplianceSettings, SmtpSettings
from mailer.errors import DeliveryError, TransportError


def compose(
    compliance: ComplianceSettings,
    /,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    message_id: str | None = None,
    date: datetime | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """Build a message from the service's sender identity: text part, optional HTML alternative.

    Header values go through EmailMessage, which encodes Korean (RFC 2047) and raises
    ValueError on CR/LF — the first defence against header injection. Bodies use
    quoted-printable so that no relay needs to re-encode them (8BITMIME is not assumed).
    """
    message = EmailMessage()
    message["From"] = formataddr((compliance.sender_name, compliance.from_address))
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = (
        format_datetime(date) if date else format_datetime(datetime.now().astimezone())
    )
    domain = compliance.from_address.rpartition("@")[2] or "localhost"
    message["Message-ID"] = message_id or make_msgid(domain=domain)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text, cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message


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


def smtp_address(address: str) -> str:
    """The form to put on the wire: ASCII (punycode, RFC 5890) domain when the local part allows it.

    A relay without SMTPUTF8 (RFC 6531) can still deliver to an IDN domain this way;
    only a non-ASCII local part truly needs the extension.
    """
    if address.isascii():
        return address
    try:
        validated = validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return address
    return validated.ascii_email or validated.normalized


def needs_smtputf8(*addresses: str) -> bool:
    return any(not address.isascii() for address in addresses)


def message_bytes(message: EmailMessage, /, *, utf8: bool = False) -> bytes:
    """Serialise with CRLF line ends and folded headers, as SMTP wants it."""
    return message.as_bytes(policy=SMTPUTF8_POLICY if utf8 else SMTP_POLICY)


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

"""MIME adapter: compose a message from the service's sender identity and serialise it for SMTP.

Addresses go on the wire in their ASCII form where the local part allows it, and a
serialised message is CRLF throughout: notices and test mail are built here, digests
in prepared.py (encoded once, personalised per recipient).
"""

from __future__ import annotations

import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import SMTPUTF8 as SMTPUTF8_POLICY
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

from email_validator import EmailNotValidError, validate_email

from mailer.config import ComplianceSettings

if TYPE_CHECKING:
    from mailer.mail.dkim import DkimSigner


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
    # An Address (not a formatted string) keeps "(재)" a quoted part of the name when the
    # message goes out as UTF-8 (SMTPUTF8): unquoted, readers take it for a comment and drop it.
    local, _, domain = compliance.from_address.rpartition("@")
    message["From"] = Address(display_name=compliance.sender_name, username=local, domain=domain)
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = (
        format_datetime(date) if date else format_datetime(datetime.now().astimezone())
    )
    message["Message-ID"] = message_id or make_msgid(domain=domain or "localhost")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text, cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message


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
    """Whether a transaction with these addresses needs SMTPUTF8 (RFC 6531).

    Pass the wire forms (:func:`smtp_address`): an IDN domain travels as punycode, so
    only a non-ASCII local part truly needs the extension.
    """
    for address in addresses:
        if not address.isascii():
            return True
    return False


def message_bytes(message: EmailMessage, /, *, utf8: bool = False) -> bytes:
    """Serialise with CRLF line ends and folded headers, as SMTP wants it."""
    return message.as_bytes(policy=SMTPUTF8_POLICY if utf8 else SMTP_POLICY)


_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


def wire_bytes(message: EmailMessage, /, *, utf8: bool, signer: DkimSigner | None = None) -> bytes:
    """A composed message as the SMTP pool sends it: CRLF, signed when DKIM is on, dot-stuffed.

    :meth:`mailer.mail.pool.RelayConnection.deliver` writes its bytes as they are, so
    a line starting with "." is doubled here (RFC 5321 §4.5.2; the receiver removes
    the extra dot before checking the signature, which covers the message as composed).
    """
    data = message_bytes(message, utf8=utf8)
    if signer is not None:
        data = signer.sign(data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return _LEADING_DOT.sub(b"..", data)

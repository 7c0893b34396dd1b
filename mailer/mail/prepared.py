"""Digest mail as prepared bytes: build an edition's MIME skeleton once, personalise it per recipient.

An edition's subject, HTML and text are rendered once with :class:`PersonalField`
markers in place of per-subscriber values (design §4 "Mail"). Building an
``EmailMessage`` per recipient costs about 2 ms; this module instead encodes the
edition once into a list of constant byte pieces and *slots*, and fills the slots
per recipient (tens of microseconds).

Why the body parts are encoded by us: both parts use quoted-printable, which keeps
the message 7-bit so that no relay without 8BITMIME re-encodes it and breaks a DKIM
signature (compliance.md). Encoding the whole part once and substituting afterwards
would be wrong — a QP soft line break (``=`` CRLF) can fall inside a marker and a
substituted value can push a line past 76 characters — so each constant segment
between markers and each personal value is encoded on its own and the pieces are
joined with soft line breaks, which decode to nothing (RFC 2045 §6.7 rule 5).
Encoded lines never start with ``.``, so the bytes need no SMTP dot-stuffing.

The fixed header block is built with ``email.message.EmailMessage`` and the SMTP
policy (RFC 2047 for Korean, folding, CR/LF refused). The three personal header
fields (To, Message-ID, List-Unsubscribe) hold only ASCII we check here.
"""

from __future__ import annotations

import enum
import html
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Any

from mailer.config import Settings
from mailer.errors import DeliveryError
from mailer.mail.dkim import DkimSigner, load_dkim
from mailer.mail.message import smtp_address
from mailer.models import Links, PersonalField

#: Longest quoted-printable line, soft-break "=" included (RFC 2045 §6.7 rule 5).
QP_LINE = 76

_MARKERS = {field.marker: field for field in PersonalField}
_MARKER_RE = re.compile("|".join(re.escape(marker) for marker in _MARKERS))
#: A link token made by keys.IdentityKeys.link_token (URL-safe base64).
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: What we accept in an address that goes into a header as-is: no spaces, no
#: controls, no angle brackets or commas that would change the header's meaning.
_ADDRESS_RE = re.compile(r"[^\s<>,;\"()\\\x00-\x1f\x7f]+@[^\s<>,;\"()\\@\x00-\x1f\x7f]+")


class Slot(enum.Enum):
    """A place in the prepared bytes that is filled per recipient."""

    TO = "to"
    MESSAGE_ID = "message-id"
    LIST_UNSUBSCRIBE = "list-unsubscribe"
    SUBJECT = "subject"  # only when the subject itself holds a marker
    TEXT_UNSUBSCRIBE_URL = "text:unsubscribe_url"
    TEXT_PREFERENCES_URL = "text:preferences_url"
    TEXT_NAME = "text:name"
    TEXT_EMAIL = "text:email"
    HTML_UNSUBSCRIBE_URL = "html:unsubscribe_url"
    HTML_PREFERENCES_URL = "html:preferences_url"
    HTML_NAME = "html:name"
    HTML_EMAIL = "html:email"


_BODY_SLOTS = {
    ("text", PersonalField.UNSUBSCRIBE_URL): Slot.TEXT_UNSUBSCRIBE_URL,
    ("text", PersonalField.PREFERENCES_URL): Slot.TEXT_PREFERENCES_URL,
    ("text", PersonalField.NAME): Slot.TEXT_NAME,
    ("text", PersonalField.EMAIL): Slot.TEXT_EMAIL,
    ("html", PersonalField.UNSUBSCRIBE_URL): Slot.HTML_UNSUBSCRIBE_URL,
    ("html", PersonalField.PREFERENCES_URL): Slot.HTML_PREFERENCES_URL,
    ("html", PersonalField.NAME): Slot.HTML_NAME,
    ("html", PersonalField.EMAIL): Slot.HTML_EMAIL,
}


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who one copy goes to: the subscriber's id, address, optional name and link token."""

    subscriber_id: int
    email: str
    name: str | None
    token: str


@dataclass(frozen=True, slots=True)
class PreparedEdition:
    """An edition encoded once: constant byte pieces and slots, plus what filling the slots needs."""

    edition_id: int
    sender: str
    pieces: tuple[bytes | Slot, ...]
    slots: frozenset[Slot]
    #: Body slots present, with the field and whether the value is HTML-escaped.
    body_slots: tuple[tuple[Slot, PersonalField, bool], ...]
    links: Links
    message_id_domain: str
    #: The installation's random part (store/installation.py): another installation, or
    #: this one after a database reset, numbers editions and subscribers from 1 again.
    message_id_part: str
    unsubscribe_address: str
    subject: str
    dkim: DkimSigner | None = None

    def message_id(self, subscriber_id: int) -> str:
        """Fixed per (edition, subscriber), so a retry or a resend carries the same one."""
        return (
            f"<e{self.edition_id}.s{subscriber_id}.{self.message_id_part}@{self.message_id_domain}>"
        )


def _field(row: Any, name: str) -> Any:
    if isinstance(row, dict):
        return row[name]
    if hasattr(row, "_mapping"):
        return row._mapping[name]
    return getattr(row, name)


def prepare_edition(
    settings: Settings,
    edition: Any,
    /,
    *,
    message_id_part: str,
    date: datetime | None = None,
) -> PreparedEdition:
    """Encode an edition (a row, mapping or object with id, subject, html, text) once for sending."""
    compliance = settings.compliance
    edition_id = int(_field(edition, "id"))
    subject = str(_field(edition, "subject"))
    html_body = str(_field(edition, "html") or "")
    text_body = str(_field(edition, "text") or "")
    if not text_body.strip():
        raise DeliveryError(f"edition {edition_id} has no plain-text part", temporary=False)
    domain = compliance.from_address.rpartition("@")[2] or "localhost"
    boundary = "=_mailer_" + secrets.token_hex(12)  # "=_" never occurs in QP text

    fixed = EmailMessage(policy=SMTP_POLICY)
    local, _, from_domain = compliance.from_address.rpartition("@")
    try:
        fixed["From"] = Address(
            display_name=compliance.sender_name, username=local, domain=from_domain
        )
        fixed["Date"] = format_datetime(date or datetime.now(settings.zone))
        fixed["List-Id"] = f"{compliance.list_name} <{compliance.list_id}>"
        if not _MARKER_RE.search(subject):
            fixed["Subject"] = subject
    except (ValueError, TypeError) as exc:
        raise DeliveryError(
            f"edition {edition_id}: bad header value: {exc}", temporary=False
        ) from None

    def header(name: str) -> bytes:
        return SMTP_POLICY.fold_binary(name, fixed[name])

    pieces: list[bytes | Slot] = [header("From"), b"To: ", Slot.TO, b"\r\n"]
    if "Subject" in fixed:
        pieces.append(header("Subject"))
    else:
        pieces.append(Slot.SUBJECT)
    pieces += [
        header("Date"),
        b"Message-ID: ",
        Slot.MESSAGE_ID,
        b"\r\n",
        header("List-Id"),
        b"List-Unsubscribe: ",
        Slot.LIST_UNSUBSCRIBE,
        b"\r\n",
        # RFC 8058 §3.1: exactly this value.
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        b"MIME-Version: 1.0\r\n",
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'.encode("ascii"),
        b"\r\n",
    ]
    parts = [("plain", "text", text_body)]
    if html_body.strip():
        parts.append(("html", "html", html_body))
    for subtype, kind, body in parts:
        pieces.append(
            f"--{boundary}\r\n"
            f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode("ascii")
        )
        pieces += _body_pieces(body, kind)
        pieces.append(b"\r\n")  # the CRLF before a boundary belongs to the boundary (RFC 2046)
    pieces.append(f"--{boundary}--\r\n".encode("ascii"))

    merged: list[bytes | Slot] = []
    for piece in pieces:
        if isinstance(piece, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += piece
        elif piece != b"":
            merged.append(piece)
    return PreparedEdition(
        edition_id=edition_id,
        sender=compliance.from_address,
        pieces=tuple(merged),
        slots=frozenset(piece for piece in merged if isinstance(piece, Slot)),
        body_slots=tuple(
            (slot, field, kind == "html")
            for (kind, field), slot in _BODY_SLOTS.items()
            if slot in merged
        ),
        links=Links(settings.base_url),
        message_id_domain=domain,
        message_id_part=message_id_part,
        unsubscribe_address=compliance.unsubscribe_address or compliance.from_address,
        subject=subject,
        dkim=load_dkim(settings),
    )


def _body_pieces(body: str, kind: str) -> list[bytes | Slot]:
    """A body as QP-encoded constant segments with a slot for each marker, joined by soft breaks."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"  # as EmailMessage.set_content does: a part ends with a line break
    pieces: list[bytes | Slot] = []
    position = 0
    for match in _MARKER_RE.finditer(body):
        segment = body[position : match.start()]
        if segment:
            pieces.append(qp_encode(segment.encode("utf-8")) + b"=\r\n")
        pieces.append(_BODY_SLOTS[(kind, _MARKERS[match.group()])])
        position = match.end()
    tail = body[position:]
    if tail:
        pieces.append(qp_encode(tail.encode("utf-8")))
    return pieces


# Quoted-printable (RFC 2045 §6.7), written out so that a line never starts with "."
# (SMTP would need dot-stuffing, RFC 5321 §4.5.2) and every line, soft break
# included, stays within 76 characters. Precomputed per byte for speed.
_QP_TOKENS = [
    bytes([b]) if (33 <= b <= 126 and b != ord("=")) or b in (32, 9) else b"=%02X" % b
    for b in range(256)
]


#: A line that needs any encoding: a non-printable or non-ASCII byte, "=", a leading
#: "." or trailing whitespace.
_QP_UNSAFE = re.compile(rb"[^\x20-\x3c\x3e-\x7e\t]|^\.|[ \t]$")


def qp_encode(data: bytes, /) -> bytes:
    """Quoted-printable with CRLF hard breaks; the result ends mid-line (no trailing soft break)."""
    out: list[bytes] = []
    lines = data.split(b"\n")
    for index, line in enumerate(lines):
        if index:
            out.append(b"\r\n")
        if len(line) < QP_LINE and not _QP_UNSAFE.search(line):
            out.append(line)  # a short line of plain ASCII goes as it is
            continue
        column = 0
        tokens = [_QP_TOKENS[b] for b in line]
        if tokens and tokens[-1] in (b" ", b"\t"):
            tokens[-1] = b"=%02X" % line[-1]  # trailing whitespace is not safe (rule 3)
        for token in tokens:
            if column + len(token) > QP_LINE - 1:
                out.append(b"=\r\n")
                column = 0
            if column == 0 and token == b".":
                token = b"=2E"
            out.append(token)
            column += len(token)
    return b"".join(out)


def _qp_value(value: str) -> bytes:
    """A personal value as its own QP piece followed by a soft break (empty value: nothing)."""
    if not value:
        return b""
    return qp_encode(value.encode("utf-8")) + b"=\r\n"


def _clean(value: str | None) -> str:
    """A value for a body: line breaks would change the layout, so they become spaces."""
    if not value:
        return ""
    return " ".join(value.splitlines())


def personalise(prepared: PreparedEdition, recipient: Recipient, /) -> bytes:
    """The message bytes for one recipient: CRLF line ends, dot-safe, signed when DKIM is on."""
    email = recipient.email
    if not _ADDRESS_RE.fullmatch(email):
        raise DeliveryError(f"not a usable email address: {email!r}", temporary=False)
    token = recipient.token
    if not _TOKEN_RE.fullmatch(token):
        raise DeliveryError(
            f"subscriber {recipient.subscriber_id} has a malformed token", temporary=False
        )
    slots = prepared.slots
    unsubscribe_url = prepared.links.unsubscribe(token)
    values: dict[Slot, bytes] = {
        # The same ASCII (punycode) form as the envelope, so an IDN domain needs no SMTPUTF8.
        Slot.TO: smtp_address(email).encode("utf-8"),
        Slot.MESSAGE_ID: prepared.message_id(recipient.subscriber_id).encode("ascii"),
        # RFC 2369 / RFC 8058: the https URI (the one-click target) and a mailto.
        Slot.LIST_UNSUBSCRIBE: (
            f"<{unsubscribe_url}>,\r\n <mailto:{prepared.unsubscribe_address}?subject={token}>"
        ).encode(),
    }
    if prepared.body_slots or Slot.SUBJECT in slots:
        plain = {
            PersonalField.UNSUBSCRIBE_URL: unsubscribe_url,
            PersonalField.PREFERENCES_URL: prepared.links.preferences(token),
            PersonalField.NAME: _clean(recipient.name),
            PersonalField.EMAIL: email,
        }
        for slot, field, escaped in prepared.body_slots:
            value = plain[field]
            values[slot] = _qp_value(html.escape(value) if escaped else value)
        if Slot.SUBJECT in slots:
            subject = _MARKER_RE.sub(lambda m: plain[_MARKERS[m.group()]], prepared.subject)
            header = SMTP_POLICY.header_factory("Subject", _clean(subject))
            values[Slot.SUBJECT] = header.fold(policy=SMTP_POLICY).encode("ascii")
    data = b"".join(
        [piece if piece.__class__ is bytes else values[piece] for piece in prepared.pieces]
    )
    if prepared.dkim is not None:
        data = prepared.dkim.sign(data)
    return data

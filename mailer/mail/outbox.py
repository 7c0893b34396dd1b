"""The built-in outbox: an aiosmtpd server on loopback that keeps every message in a Maildir.

Used when no relay is configured (``MAILER_SMTP__HOST`` unset), so that a newcomer
sees real mail in ``var/outbox/`` without setting anything up.
"""

from __future__ import annotations

import asyncio
import errno
import mailbox
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP

from mailer.errors import MailerError, NotFoundError


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One message's headers as a reader sees them: encoded words (RFC 2047) decoded."""

    key: str
    subject: str
    sender: str
    recipients: str
    date: str  # the Date header as written
    sent_at: datetime | None  # the Date header read, None when missing or unreadable
    size: int


@dataclass(frozen=True, slots=True)
class OutboxMail:
    """One message to look at: its headers and its decoded text and HTML parts."""

    message: OutboxMessage
    text: str | None
    html: str | None


class Outbox:
    """An SMTP listener bound to 127.0.0.1 that files messages into ``directory`` (Maildir)."""

    def __init__(self, directory: Path, *, port: int) -> None:
        self.directory = directory
        self.port = port
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        # mailbox.Maildir creates tmp/new/cur only when the folder itself is new.
        for part in ("tmp", "new", "cur"):
            (self.directory / part).mkdir(parents=True, exist_ok=True)
        handler = Mailbox(self.directory)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(
                handler,
                hostname="mailer-outbox",
                data_size_limit=50 * 1024 * 1024,
                enable_SMTPUTF8=True,
            ),
            host="127.0.0.1",
            port=self.port,
        )
        # With port 0 the system picked one; remember it so the sender can find us.
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


async def start_outbox(directory: Path, *, port: int, reuse_running: bool) -> Outbox | None:
    """Start the built-in outbox, or explain in one line why it cannot start.

    With ``reuse_running`` a port already in use (EADDRINUSE) means another mailer
    process (`mailer serve`) runs its outbox there: return None and send to that one.
    Any other failure — a folder that cannot be created, a port we may not bind —
    is a MailerError, never silently ignored (mail would then go nowhere).
    """
    outbox = Outbox(directory, port=port)
    try:
        await outbox.start()
    except OSError as exc:
        if reuse_running and exc.errno == errno.EADDRINUSE:
            return None
        raise MailerError(
            f"built-in outbox cannot listen on 127.0.0.1:{port} with folder {directory}: "
            f"{exc.strerror or exc} (set MAILER_SMTP__OUTBOX_PORT or MAILER_SMTP__HOST)"
        ) from exc
    return outbox


def list_outbox(directory: Path, *, limit: int = 200) -> list[OutboxMessage]:
    """Messages in the outbox Maildir, newest first."""
    if not (directory / "new").is_dir():
        return []
    box = mailbox.Maildir(directory, create=False)
    found = []
    for key in box.keys():
        path = directory / ("new" if (directory / "new" / key).exists() else "cur") / key
        try:
            data = path.read_bytes()
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            continue
        found.append((mtime, _described(key, data)))
    found.sort(key=lambda item: item[0], reverse=True)
    return [message for _, message in found[:limit]]


def read_outbox_mail(directory: Path, key: str, /) -> OutboxMail:
    """One message with its parts decoded (quoted-printable, base64, charsets); NotFoundError."""
    data = read_outbox_message(directory, key)
    parsed = message_from_bytes(data, policy=default_policy)
    return OutboxMail(
        message=_described(key, data, parsed),
        text=_part(parsed, "plain"),
        html=_part(parsed, "html"),
    )


def _described(key: str, data: bytes, parsed: EmailMessage | None = None) -> OutboxMessage:
    headers = parsed or message_from_bytes(data, policy=default_policy)
    date = headers.get("Date")
    return OutboxMessage(
        key=key,
        subject=_decoded(headers, "Subject"),
        sender=_addresses(headers, "From"),
        recipients=_addresses(headers, "To") or _decoded(headers, "X-RcptTo"),
        date=_decoded(headers, "Date"),
        sent_at=getattr(date, "datetime", None),
        size=len(data),
    )


def _decoded(headers: EmailMessage, name: str) -> str:
    """A header's text with encoded words decoded; "" when it is missing or unreadable."""
    try:
        return _utf8(str(headers.get(name, "")))
    except (ValueError, LookupError):  # a broken encoded word or an unknown charset
        return ""


def _utf8(text: str) -> str:
    """Raw UTF-8 in a header (RFC 6532, sent with SMTPUTF8) as text: the byte parser keeps
    such bytes as surrogate escapes, which no page could encode."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _addresses(headers: EmailMessage, name: str) -> str:
    """An address header as people write it: ``(재)시흥산업진흥원 <news@example.or.kr>``, no quotes."""
    try:
        header = headers.get(name)
        if header is None:
            return ""
        written = [
            f"{address.display_name} <{address.addr_spec}>"
            if address.display_name
            else address.addr_spec
            for address in getattr(header, "addresses", ())
        ]
    except (ValueError, LookupError, AttributeError):
        return _decoded(headers, name)
    return _utf8(", ".join(written)) or _decoded(headers, name)


def _part(message: EmailMessage, subtype: str) -> str | None:
    """The body part of ``subtype`` decoded to text, or None when the message has none."""
    try:
        part = message.get_body((subtype,))
        return None if part is None else part.get_content()
    except (ValueError, LookupError, KeyError):  # a damaged part: the raw view still shows it
        return None


def read_outbox_message(directory: Path, key: str, /) -> bytes:
    """One message of the outbox Maildir as it arrived; NotFoundError for an unknown key.

    Maildir looks the key up in its own table of contents, never as a path, so a key
    from a URL cannot reach a file outside the folder.
    """
    if not (directory / "new").is_dir():
        raise NotFoundError("outbox message", key)
    try:
        return mailbox.Maildir(directory, create=False).get_bytes(key)
    except (KeyError, FileNotFoundError):  # unknown, or removed since the listing
        raise NotFoundError("outbox message", key) from None

"""The built-in outbox: an aiosmtpd server on loopback that keeps every message in a Maildir.

Used when no relay is configured (``MAILER_SMTP__HOST`` unset), so that a newcomer
sees real mail in ``var/outbox/`` without setting anything up.
"""

from __future__ import annotations

import asyncio
import errno
import mailbox
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP

from mailer.errors import MailerError, NotFoundError


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    key: str
    subject: str
    sender: str
    recipients: str
    date: str
    size: int


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
        headers = message_from_bytes(data, policy=default_policy)
        found.append(
            (
                mtime,
                OutboxMessage(
                    key=key,
                    subject=str(headers.get("Subject", "")),
                    sender=str(headers.get("From", "")),
                    recipients=str(headers.get("X-RcptTo", headers.get("To", ""))),
                    date=str(headers.get("Date", "")),
                    size=len(data),
                ),
            )
        )
    found.sort(key=lambda item: item[0], reverse=True)
    return [message for _, message in found[:limit]]


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

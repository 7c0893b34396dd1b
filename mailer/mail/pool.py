"""SMTP pool adapter: persistent relay connections sending prepared bytes, and a token-bucket rate limit.

aiosmtplib does not pipeline and serialises commands per connection, so throughput
comes from several connections at once (design §4 "Mail"); each :class:`RelayConnection`
carries one message at a time, reconnects after a drop and, when configured, after a
number of messages. Connecting, TLS and AUTH go through :func:`mailer.mail.open_connection`.
One pool serves a delivery worker's every message, digests and notices alike.

The DATA phase is driven here rather than by ``SMTP.data()`` for two reasons: the
prepared bytes already have CRLF line ends and no line starting with "." (see
prepared.py and :func:`mailer.mail.wire_bytes`), so aiosmtplib's per-message
normalisation pass is wasted work; and we must know whether the connection was lost *after the final dot* — then the relay may
have accepted the message and a retry could deliver it twice (RFC 1047), which is a
different outcome (:class:`LostReply`) from a drop before the message was sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiosmtplib

from mailer.config import SmtpSettings
from mailer.errors import DeliveryError, LostReply, NoSmtpUtf8, RefusedAt, TransportError
from mailer.mail.smtp import open_connection

#: Told the reply code (None: no reply, the connection failed) and the monotonic start
#: of each message's SMTP exchange (ProcessMetrics.observe_smtp_reply).
ReplyObserver = Callable[[int | None, float], None]


class RelayConnection:
    """One persistent connection to the relay, opened on first use and re-opened after a drop."""

    def __init__(self, smtp: SmtpSettings, /, *, observe: ReplyObserver | None = None) -> None:
        self._smtp = smtp
        self._observe = observe
        self._client: aiosmtplib.SMTP | None = None
        self._messages_on_client = 0
        self._on_wire = False

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    @property
    def on_wire(self) -> bool:
        """True from the final dot of a message until the relay's reply: only then may it be delivered.

        Before that point a :meth:`deliver` may be cancelled without any risk of a
        duplicate (a stopping worker gives such a message back); after it, never.
        """
        return self._on_wire

    async def _ready_client(self) -> aiosmtplib.SMTP:
        limit = self._smtp.max_messages_per_connection
        if self._client is not None and limit and self._messages_on_client >= limit:
            await self.close()
        if self._client is None or not self._client.is_connected:
            self._drop()
            self._client = await open_connection(self._smtp)  # TransportError when unusable
            self._messages_on_client = 0
        return self._client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    async def _reset(self, client: aiosmtplib.SMTP) -> None:
        """RSET after a refused command so the connection can carry the next message."""
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            self._drop()

    async def deliver(self, data: bytes, /, *, sender: str, recipient: str, utf8: bool) -> str:
        """Send one prepared message to one recipient; return the relay's reply.

        The time to the final reply and its class go to ``observe`` (the process's
        SMTP latency histogram); a refusal before any command (SMTPUTF8) is not a reply.
        """
        started = time.monotonic()
        try:
            reply = await self._deliver(data, sender=sender, recipient=recipient, utf8=utf8)
        except NoSmtpUtf8:
            raise
        except DeliveryError as exc:
            if self._observe is not None:
                self._observe(None if isinstance(exc, LostReply) else exc.code, started)
            raise
        if self._observe is not None:
            self._observe(250, started)
        return reply

    async def _deliver(self, data: bytes, /, *, sender: str, recipient: str, utf8: bool) -> str:
        """Send one prepared message to one recipient; return the relay's reply.

        ``data`` must be CRLF-terminated lines, none starting with "." (prepared
        digests are; :func:`mailer.mail.wire_bytes` makes a composed message so).
        Raises :class:`RefusedAt` for an error reply, :class:`LostReply` when the
        connection is lost after the final dot, and ``TransportError`` when the relay
        cannot be reached or the connection is lost before the message was sent.
        """
        client = await self._ready_client()
        if utf8 and not client.supports_extension("smtputf8"):
            # RFC 6531 §3.2: without the EHLO keyword the address cannot be sent at all.
            raise NoSmtpUtf8(
                f"the relay does not offer SMTPUTF8 (RFC 6531), needed for {recipient!r}",
                temporary=False,
            )
        encoding = "utf-8" if utf8 else "ascii"
        try:
            try:
                # RFC 6531: an address with non-ASCII characters needs SMTPUTF8.
                await client.mail(sender, options=["SMTPUTF8"] if utf8 else [], encoding=encoding)
            except aiosmtplib.SMTPResponseException as exc:
                await self._reset(client)
                raise RefusedAt("MAIL", exc.code, exc.message, smtputf8=utf8) from None
            try:
                await client.rcpt(recipient, encoding=encoding)
            except aiosmtplib.SMTPResponseException as exc:
                await self._reset(client)
                raise RefusedAt("RCPT", exc.code, exc.message) from None
            start = await client.execute_command(b"DATA")
            if start.code != 354:
                await self._reset(client)
                raise RefusedAt("DATA", start.code, start.message)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            self._drop()
            raise TransportError(f"connection to the relay lost: {exc}") from None
        except asyncio.CancelledError:
            # Given back before the final dot (a stopping worker): the session is
            # mid-command and can carry no further message.
            self._drop()
            raise
        protocol = client.protocol
        if protocol is None:
            self._drop()
            raise TransportError("connection to the relay lost before the message was sent")
        # From here on the message is on the wire: only the reply can tell what happened.
        self._on_wire = True
        try:
            protocol.write(data + b".\r\n")
            reply = await protocol.read_response(timeout=self._smtp.timeout)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            self._drop()
            raise LostReply(
                "connection lost after the message was sent, before the relay answered "
                f"(RFC 1047: it may have been delivered): {exc}"
            ) from None
        finally:
            self._on_wire = False
        self._messages_on_client += 1
        if reply.code != 250:
            raise RefusedAt("DATA", reply.code, reply.message)
        return f"{reply.code} {reply.message}"

    async def close(self) -> None:
        """QUIT politely; a connection that is already gone is just forgotten."""
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()
        except BaseException:  # cancelled: do not leak the socket
            client.close()
            raise


class TokenBucket:
    """At most ``rate`` messages per second on average, with bursts up to ``burst`` (0 = unlimited)."""

    def __init__(
        self,
        rate: float,
        /,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._tokens = self.capacity
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self, wanted: int, /) -> int:
        """Grant up to ``wanted`` messages now; the rest must wait."""
        if not self.rate:
            return wanted
        self._refill()
        granted = min(wanted, int(self._tokens))
        self._tokens -= granted
        return granted

    def wait_time(self) -> float:
        """Seconds until one more message may go."""
        if not self.rate:
            return 0.0
        self._refill()
        return max(0.0, (1 - self._tokens) / self.rate)


class SmtpPool:
    """``MAILER_SMTP__CONNECTIONS`` relay connections and the shared rate limit of one worker."""

    def __init__(
        self,
        smtp: SmtpSettings,
        /,
        *,
        connections: int | None = None,
        observe: ReplyObserver | None = None,
    ) -> None:
        self.connections = [
            RelayConnection(smtp, observe=observe) for _ in range(connections or smtp.connections)
        ]
        self.bucket = TokenBucket(smtp.rate)

    async def close(self) -> None:
        for connection in self.connections:
            await connection.close()

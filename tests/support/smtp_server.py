"""Run a real aiosmtpd relay on localhost whose replies to MAIL/RCPT/DATA can be scripted to fail.

Typical use (the ``smtp_server`` fixture does the start/stop)::

    server = FaultySMTPServer()
    server.start()
    server.fail("RCPT", 451, "try later")           # next RCPT gets a 451, then normal again
    server.drop("DATA", after_accept=True)          # next message is kept, but the 250 is lost
    ...
    assert server.messages[0].message["Subject"] == "Weekly digest"
    server.stop()

Faults are queued in the order they were added; each command consumes the first queued
fault that names it and whose ``when`` filter accepts the address.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, NamedTuple

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["FaultySMTPServer", "ReceivedMessage", "SMTPCommand"]

FAULTABLE_COMMANDS = frozenset({"MAIL", "RCPT", "DATA"})
#: Loop turns _close_sessions looks for sessions accepted as the relay stopped.
_CLOSE_ROUNDS = 5
_STOP_TIMEOUT = 5.0


@dataclass
class ReceivedMessage:
    """One message the relay accepted (or, for ``drop(after_accept=True)``, kept)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """``data`` parsed with the default policy; wire CRLFs become LF, as in Python text."""
        # Parsing CRLF data keeps "\r\n" in every get_content(); normalising lets tests
        # compare bodies against plain strings. ``data`` itself stays byte-exact.
        text = self.data.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(text, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SMTPCommand(NamedTuple):
    """A command line as the relay saw it; MAIL/RCPT carry the bare address as argument."""

    command: str
    argument: str


@dataclass
class _Fault:
    command: str
    remaining: int | None  # None: until reset_faults()
    when: Callable[[str], bool] | None
    reply: str | None  # None: drop the connection instead of replying
    after_accept: bool = False


class FaultySMTPServer:
    """A localhost SMTP relay in its own thread that records traffic and injects failures.

    State (messages, commands, connections, faults) lives on this object and survives
    ``stop()``/``start()``, so a test can take the relay down and bring it back on the same
    port. All accessors return snapshots, safe to read while the relay thread runs.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, smtputf8: bool = True) -> None:
        self.host = host
        self.port = port  # 0 until the first start() picks a free port
        # Whether EHLO advertises SMTPUTF8 (RFC 6531); many real relays do not.
        self.smtputf8 = smtputf8
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._commands: list[SMTPCommand] = []
        self._connections = 0
        self._faults: list[_Fault] = []
        self._handler = _FaultInjectingHandler(self)
        self._controller: _Controller | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Start listening; after a stop() this rebinds the same port."""
        if self._controller is not None:
            raise RuntimeError("SMTP server already running")
        controller = _Controller(
            self._handler, self, hostname=self.host, port=self.port, smtputf8=self.smtputf8
        )
        try:
            controller.start()
        except BaseException:
            # A failed bind leaves aiosmtpd's private loop unclosed, which would surface as a
            # ResourceWarning (an error under filterwarnings=error) in some later test.
            controller.stop(no_assert=True)
            if not controller.loop.is_closed():
                controller.loop.close()
            raise
        self.port = controller.port
        self._controller = controller

    def stop(self) -> None:
        """Close the listener and every open session; a no-op when not running."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> FaultySMTPServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- recordings ------------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def commands(self) -> list[SMTPCommand]:
        with self._lock:
            return list(self._commands)

    @property
    def connections(self) -> int:
        """Client connections accepted so far (aiosmtpd's own start-up probe excluded)."""
        with self._lock:
            return self._connections

    def clear(self) -> None:
        """Forget recorded messages, commands and the connection count; faults stay armed."""
        with self._lock:
            self._messages.clear()
            self._commands.clear()
            self._connections = 0

    # -- fault injection -------------------------------------------------------------------

    def fail(
        self,
        command: str,
        code: int = 451,
        text: str = "try later",
        *,
        times: int | None = 1,
        when: Callable[[str], bool] | None = None,
    ) -> None:
        """Answer the next ``times`` matching ``command``s with ``code text`` (None: forever).

        ``when(addr)`` narrows the match: addr is the sender for MAIL, the recipient for
        RCPT and the first recipient for DATA. A failed DATA records nothing.
        """
        if not 400 <= code <= 599:
            raise ValueError(f"fault code must be 4xx or 5xx, got {code}")
        self._arm(
            _Fault(
                self._check_command(command), self._check_times(times), when, reply=f"{code} {text}"
            )
        )

    def drop(
        self,
        command: str,
        *,
        times: int | None = 1,
        after_accept: bool = False,
        when: Callable[[str], bool] | None = None,
    ) -> None:
        """Close the connection instead of replying to the next ``times`` matching commands.

        With ``after_accept=True`` (DATA only) the message is recorded first and only the
        250 is lost: the client cannot tell whether it was delivered.
        """
        command = self._check_command(command)
        if after_accept and command != "DATA":
            raise ValueError("after_accept only applies to DATA")
        self._arm(
            _Fault(command, self._check_times(times), when, reply=None, after_accept=after_accept)
        )

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @staticmethod
    def _check_command(command: str) -> str:
        command = command.upper()
        if command not in FAULTABLE_COMMANDS:
            raise ValueError(f"can only inject faults into {sorted(FAULTABLE_COMMANDS)}")
        return command

    @staticmethod
    def _check_times(times: int | None) -> int | None:
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        return times

    def _arm(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    # -- called from the relay thread ------------------------------------------------------

    def _take_fault(self, command: str, address: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.command != command:
                    continue
                if fault.when is not None and not fault.when(address):
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _record_message(self, message: ReceivedMessage) -> None:
        with self._lock:
            self._messages.append(message)

    def _record_command(self, command: str, argument: str) -> None:
        with self._lock:
            self._commands.append(SMTPCommand(command, argument))

    def _record_connection(self) -> None:
        with self._lock:
            self._connections += 1


class _FaultInjectingHandler:
    """aiosmtpd handler: consults the owner's fault queue before doing the normal thing."""

    def __init__(self, owner: FaultySMTPServer) -> None:
        self._owner = owner

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        fault = self._owner._take_fault("MAIL", address)
        if fault is not None:
            return await _apply(server, fault)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        fault = self._owner._take_fault("RCPT", address)
        if fault is not None:
            return await _apply(server, fault)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        received = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
        )
        fault = self._owner._take_fault("DATA", received.rcpt_tos[0] if received.rcpt_tos else "")
        if fault is None or fault.after_accept:
            self._owner._record_message(received)
        if fault is None:
            return "250 OK"
        return await _apply(server, fault)


async def _apply(server: SMTP, fault: _Fault) -> str:
    if fault.reply is not None:
        return fault.reply
    # abort() closes the socket without a reply. aiosmtpd's connection_lost() then cancels
    # this session's task; parking here until that happens means nothing more is written
    # and the session ends exactly like a client hang-up (no traceback, no warning).
    assert server.transport is not None
    server.transport.abort()
    await asyncio.get_running_loop().create_future()
    raise AssertionError("unreachable: session task is cancelled by connection_lost()")


class _RecordingSMTP(SMTP):
    """aiosmtpd's protocol, plus command logging and session tracking for clean shutdown."""

    def __init__(
        self, handler: Any, *, owner: FaultySMTPServer, controller: _Controller, **kwargs: Any
    ) -> None:
        super().__init__(handler, **kwargs)
        self._owner = owner
        self._controller = controller
        # Wrapping the dispatch table logs every recognised command, including those
        # aiosmtpd rejects on syntax before any handler hook would run.
        self._smtp_methods = {
            name: self._logged(name, method) for name, method in self._smtp_methods.items()
        }

    def _logged(self, command: str, method: Callable[[str | None], Any]) -> Callable:
        async def run(arg: str | None) -> None:
            self._owner._record_command(command, self._argument_for_log(command, arg))
            await method(arg)

        return run

    def _argument_for_log(self, command: str, arg: str | None) -> str:
        keyword = {"MAIL": "FROM:", "RCPT": "TO:"}.get(command)
        if keyword and arg:
            stripped = self._strip_command_keyword(keyword, arg)
            if stripped is not None:
                address, _ = self._getaddr(stripped)
                if address:
                    return address
        return arg or ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # STARTTLS re-enters connection_made() for the same session; count the TCP accept only.
        is_new_connection = self.transport is None
        super().connection_made(transport)
        if is_new_connection:
            self._controller.sessions.add(self)
            if not self._controller.is_probe(transport.get_extra_info("peername")):
                self._owner._record_connection()

    def connection_lost(self, error: Exception | None) -> None:
        self._controller.sessions.discard(self)
        super().connection_lost(error)


class _Controller(Controller):
    """aiosmtpd Controller that binds port 0 itself and closes sessions before its loop."""

    def __init__(
        self, handler: Any, owner: FaultySMTPServer, *, hostname: str, port: int, smtputf8: bool
    ) -> None:
        # A fixed server_hostname skips SMTP's socket.getfqdn(), which can stall on DNS.
        super().__init__(
            handler,
            hostname=hostname,
            port=port,
            server_hostname="localhost",
            ready_timeout=_STOP_TIMEOUT,
            enable_SMTPUTF8=smtputf8,
        )
        self._owner = owner
        self.sessions: set[_RecordingSMTP] = set()  # touched only on the loop thread
        self._probe_address: tuple[str, int] | None = None

    def factory(self) -> _RecordingSMTP:
        return _RecordingSMTP(self.handler, owner=self._owner, controller=self, **self.SMTP_kwargs)

    async def _create_server(self) -> asyncio.AbstractServer:  # type: ignore[override]
        # Binding port 0 here (rather than probing for a free port and re-binding it) leaves
        # no window for another process to grab the port; restarts reuse the port learned.
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
        )
        self.port = server.sockets[0].getsockname()[1]
        return server

    def _run(self, ready_event: threading.Event) -> None:
        try:
            super()._run(ready_event)
        finally:
            # Upstream only signals readiness on success, so a failed bind (say, the port
            # was taken while the relay was stopped) would cost the whole ready_timeout.
            ready_event.set()

    def _trigger_server(self) -> None:
        if self._thread_exception is not None:
            raise self._thread_exception  # _run() failed to bind; nothing to probe
        # Controller.start() opens a throwaway connection to make aiosmtpd build its
        # protocol. Binding its client side first tells connection_made() which peer it is,
        # so it never shows up in FaultySMTPServer.connections.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            probe.bind((self.hostname, 0))
            self._probe_address = probe.getsockname()[:2]
            probe.connect((self.hostname, self.port))
            probe.recv(1024)

    def is_probe(self, peer: Any) -> bool:
        return peer is not None and tuple(peer[:2]) == self._probe_address

    def stop(self, no_assert: bool = False) -> None:
        if self._thread is not None and self.loop.is_running():
            closing = asyncio.run_coroutine_threadsafe(self._close_sessions(), self.loop)
            closing.result(timeout=_STOP_TIMEOUT)
        super().stop(no_assert=no_assert)

    async def _close_sessions(self) -> None:
        # Controller.stop() just stops the loop; transports still open then would be
        # garbage-collected unclosed and raise ResourceWarnings. Refuse new clients, abort
        # live sessions and let their tasks finish while the loop still runs.
        # A connection accepted just before close() meets connection_made() only on a
        # later loop turn, so look again until a turn brings no new session.
        assert self.server is not None
        self.server.close()
        for _ in range(_CLOSE_ROUNDS):
            tasks = [s._handler_coroutine for s in self.sessions if s._handler_coroutine]
            for session in list(self.sessions):
                if session.transport is not None:
                    session.transport.abort()
            if tasks:
                await asyncio.wait(tasks, timeout=_STOP_TIMEOUT)
            await asyncio.sleep(0.01)
            if not self.sessions:
                break

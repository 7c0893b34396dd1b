"""The connection side of a worker: one sender task per SMTP connection, each carrying one message at a time.

The worker loop hands a message over (:meth:`Senders.put`) only after marking it
``sending``, and takes each :class:`~mailer.delivery.outgoing.Result` back to record
it. When the worker is told to stop, a send that has not reached the final dot is
cancelled and its message given back (:meth:`Senders.abandon_unsent`): nothing of it
was delivered, and a hung relay must not hold up the stop; a message on the wire is
always waited for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from mailer.delivery.outgoing import Claimed, Envelope, Result
from mailer.mail import RelayConnection, SmtpPool
from mailer.store.deliveries import ClaimedDelivery
from mailer.store.notices import ClaimedNotice


class Senders:
    """The sender tasks of one worker over its pool's connections."""

    def __init__(
        self,
        pool: SmtpPool,
        /,
        *,
        digest: Callable[[ClaimedDelivery], Envelope],
        notice: Callable[[ClaimedNotice], Awaitable[Envelope]],
        clock: Callable[[], datetime],
    ) -> None:
        self.pool = pool
        self.width = len(pool.connections)
        # A digest copy is personalised on the loop (microseconds); a notice is built
        # off it (it renders templates and may write a token).
        self._digest = digest
        self._notice = notice
        self._clock = clock
        self._ready: asyncio.Queue[Claimed | None] = asyncio.Queue()
        self.results: asyncio.Queue[Result] = asyncio.Queue()
        #: Sender tasks with a message in hand, and the connection carrying it.
        self._busy: dict[asyncio.Task, RelayConnection] = {}
        self._tasks: list[asyncio.Task] = []
        self._abandoning = False

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send(c)) for c in self.pool.connections]

    def put(self, item: Claimed, /) -> None:
        """Send this message on the next free connection (it is marked ``sending`` already)."""
        self._ready.put_nowait(item)

    def abandon_unsent(self) -> None:
        """Cancel the sends that have not reached the final dot; later messages are not sent."""
        self._abandoning = True
        for task, connection in list(self._busy.items()):
            if not connection.on_wire:
                task.cancel()

    async def close(self) -> None:
        """End the sender tasks (after their current message) and close the connections."""
        for _ in self._tasks:
            self._ready.put_nowait(None)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pool.close()

    async def _send(self, connection: RelayConnection) -> None:
        task = asyncio.current_task()
        assert task is not None
        while True:
            item = await self._ready.get()
            if item is None:
                return
            result = Result(item=item, started_at=self._clock())
            self._busy[task] = connection
            try:
                if self._abandoning:
                    result.abandoned = True
                else:
                    if item.__class__ is ClaimedNotice:
                        envelope = await self._notice(item)
                    else:
                        envelope = self._digest(item)
                    result.reply = await connection.deliver(
                        envelope.data,
                        sender=envelope.sender,
                        recipient=envelope.recipient,
                        utf8=envelope.utf8,
                    )
            except asyncio.CancelledError:
                if not self._abandoning:
                    raise
                task.uncancel()  # our own cancellation of a message not on the wire
                result.abandoned = True
            except Exception as exc:  # noqa: BLE001 — every failure becomes this message's outcome
                result.error = exc
            finally:
                self._busy.pop(task, None)
            self.results.put_nowait(result)

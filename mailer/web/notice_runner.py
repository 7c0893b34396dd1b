"""Background sender of notice mails inside a web process: woken after a signup, polls for retries.

The HTTP answer never waits for SMTP: a handler commits the queued notice, wakes this
runner and returns. If the relay is slow or down, only this task waits (and retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from mailer import subscribers as subscriptions
from mailer.context import AppContext

log = logging.getLogger("mailer.notices")

#: Seconds a woken runner waits before sending, so that a burst of signups shares a batch.
BATCH_DELAY = 0.25


class NoticeRunner:
    def __init__(self, context: AppContext) -> None:
        self._context = context
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def wake(self) -> None:
        """Ask for a delivery round now (called on the event loop after a commit)."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="notice-runner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        poll = self._context.settings.subscriptions.notice_poll_seconds
        batch = 100
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll)
            # Gather what arrives in the next moment into one batch on one SMTP
            # connection, instead of one connection per signup under load.
            await asyncio.sleep(BATCH_DELAY)
            self._wake.clear()
            try:
                # One connection: mail is composed between requests, never instead of
                # them, so a burst of signups is answered first and mailed soon after.
                sent = await subscriptions.deliver_notices(self._context, limit=batch, lanes=1)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 — one bad round must not end the runner
                log.exception("notice delivery round failed; retrying at the next poll")
                continue
            if sent >= batch:
                self._wake.set()  # more may be waiting: go again without sleeping

"""Wake this process's delivery worker right after a commit queued a notice mail.

The HTTP answer never waits for SMTP: a handler commits the queued notice, calls
:meth:`NoticeRunner.wake` and returns. Notices are sent by the delivery worker, the
same one that sends digests (mailer.delivery): the web app runs one in its process
(its lifespan, see mailer.web.app; ``mailer serve``), and a wake makes it claim the
notice at once instead of at its next poll (``delivery.poll_seconds``). If the relay
is slow or down, only that worker waits and retries.

With ``mailer serve --no-worker`` no worker runs in the web process: notices then wait
for a ``mailer worker`` process, which finds them at its next poll.
"""

from __future__ import annotations

from mailer.context import AppContext


class NoticeRunner:
    """The web's handle on the mail bell of its context."""

    def __init__(self, context: AppContext) -> None:
        self._bell = context.mail_bell

    def wake(self) -> None:
        """Ask this process's delivery workers to look for due notices now (after a commit)."""
        self._bell.ring()

    def start(self) -> None:
        """Nothing to start: the app's lifespan runs the delivery worker itself."""

    async def stop(self) -> None:
        """Nothing to stop: the worker ends with the app's lifespan."""

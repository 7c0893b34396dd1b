"""One log line per worker batch: what a claim round took, and what came back until the next one.

A worker streams: it claims a batch, keeps its connections busy, and claims the next
one when the backlog runs low, so outcomes of one batch and the next overlap. The line
is therefore written when a claim takes new work, when the worker runs out of work,
and when it stops, and counts the stretch since the previous line: the messages
claimed at its start, the outcomes recorded in it (digest deliveries and notices
together) and how long it lasted. A stretch in which nothing was claimed and nothing
came back — an idle worker polling — writes nothing.
The figures are ``extra=`` fields too, for the JSON log format (issue 14 item 3); the
line names the worker by its id (host:pid:random), never a recipient.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from mailer.delivery.outgoing import WorkerSummary

log = logging.getLogger("mailer.delivery")

_OUTCOMES = ("sent", "deferred", "failed", "unknown", "skipped")


@dataclass
class BatchLog:
    """Counts one worker's stretch since its last batch line; :meth:`close` writes the line."""

    summary: WorkerSummary

    def __post_init__(self) -> None:
        self._claimed = 0
        self._started = time.monotonic()
        self._seen = self._outcomes()

    def claimed(self, count: int, /) -> None:
        """A claim took ``count`` messages: new work ends a stretch in which outcomes came back."""
        if count and any(self._figures(self._outcomes()).values()):
            self.close()
        self._claimed += count

    def _outcomes(self) -> dict[str, int]:
        notices = self.summary.notices
        return {name: getattr(self.summary, name) + getattr(notices, name, 0) for name in _OUTCOMES}

    def _figures(self, outcomes: dict[str, int]) -> dict[str, int]:
        return {name: outcomes[name] - self._seen[name] for name in _OUTCOMES}

    def close(self) -> None:
        """Write the line of the stretch that ends now, if anything happened in it; start the next."""
        now, outcomes = time.monotonic(), self._outcomes()
        figures = self._figures(outcomes)
        if self._claimed or any(figures.values()):
            seconds = round(now - self._started, 3)
            log.info(
                "worker %s batch: claimed %d, sent %d, deferred %d, failed %d, unknown %d, "
                "skipped %d in %.2f s",
                self.summary.worker_id,
                self._claimed,
                *figures.values(),
                seconds,
                extra={
                    "event": "worker_batch",
                    "worker": self.summary.worker_id,
                    "claimed": self._claimed,
                    **figures,
                    "duration_seconds": seconds,
                },
            )
        self._started, self._seen, self._claimed = now, outcomes, 0

"""A worker's place in the registry: register, beat while alive, close the books of dead workers, leave.

Heartbeats and recovery always use the real clock, whatever clock a worker run reads
its queues with. Recovery covers digest deliveries and notices alike (store/workers.py).
"""

from __future__ import annotations

import asyncio
import logging
import os

from mailer.context import AppContext
from mailer.delivery.outgoing import WorkerSummary
from mailer.delivery.queue import host_name, recover_dead_workers, utcnow
from mailer.store import workers as worker_store
from mailer.store.db import write_transaction
from mailer.store.offloop import DatabaseRunner

log = logging.getLogger("mailer.delivery")


class Liveness:
    """Registry entry and heartbeat of one worker run."""

    def __init__(
        self, ctx: AppContext, worker_id: str, /, *, db: DatabaseRunner, summary: WorkerSummary
    ) -> None:
        self.ctx = ctx
        self.id = worker_id
        self.db = db
        self.summary = summary
        self.delivery = ctx.settings.delivery

    async def register(self) -> None:
        await self.db.transaction(
            worker_store.register_worker, self.id, host=host_name(), pid=os.getpid(), now=utcnow()
        )

    async def leave(self) -> None:
        await self.db.transaction(worker_store.unregister_worker, self.id)

    async def recover(self) -> None:
        """Close the books of dead workers; what they had in flight is counted in the summary."""
        recovery = await self.db.transaction(
            recover_dead_workers, stale_after=self.delivery.stale_after
        )
        if recovery.workers:
            log.warning(
                "workers %s stopped without closing their books: %d deliveries and %d notices "
                "in flight marked unknown, %d claims released",
                ", ".join(recovery.workers),
                recovery.unknown,
                recovery.notices_unknown,
                recovery.released + recovery.notices_released,
            )
        self.summary.recovered_unknown += recovery.unknown
        self.summary.notices.recovered_unknown += recovery.notices_unknown

    async def beat_forever(self) -> None:
        engine = self.ctx.engine

        def beat() -> bool:
            with write_transaction(engine) as conn:
                return worker_store.beat(
                    conn, self.id, host=host_name(), pid=os.getpid(), now=utcnow()
                )

        while True:
            await asyncio.sleep(self.delivery.heartbeat_seconds)
            try:
                # Not on the worker's own thread: a long claim must not silence the beat.
                if not await self.ctx.database.run(beat):
                    log.warning("worker %s had been judged dead; registered again", self.id)
            except Exception:  # noqa: BLE001 — a missed beat is retried; sending goes on
                log.exception("worker heartbeat failed")

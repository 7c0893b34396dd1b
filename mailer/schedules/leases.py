"""Hold a named lease in the database while a piece of work runs, renewing it until done.

Two scheduler processes must not poll the same feeds at the same time (issue 6). The
lease is short so that a holder that dies frees it soon; a live holder renews it every
third of its length, however long the work takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mailer.errors import LeaseTaken
from mailer.store import leases as store
from mailer.store.db import write_transaction

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext

log = logging.getLogger("mailer.schedules")


@contextlib.asynccontextmanager
async def held_lease(
    ctx: AppContext,
    name: str,
    /,
    *,
    holder: str,
    clock: Callable[[], datetime],
    seconds: float | None = None,
) -> AsyncIterator[None]:
    """Run the body while holding lease ``name``; raise LeaseTaken if someone else holds it."""
    length = timedelta(seconds=seconds or ctx.settings.scheduler.lease_seconds)

    def acquire() -> dict | None:
        now = clock()
        with write_transaction(ctx.engine) as conn:
            if store.acquire_lease(conn, name, holder=holder, now=now, expires_at=now + length):
                return None
            return store.get_lease(conn, name) or {"holder": None, "expires_at": None}

    def renew() -> bool:
        with write_transaction(ctx.engine) as conn:
            return store.renew_lease(conn, name, holder=holder, expires_at=clock() + length)

    def release() -> None:
        with write_transaction(ctx.engine) as conn:
            store.release_lease(conn, name, holder=holder)

    async def keep_renewing() -> None:
        while True:
            await asyncio.sleep(length.total_seconds() / 3)
            try:
                if not await ctx.database.run(renew):
                    log.warning("lease %r was lost by %s while its work ran", name, holder)
                    return
            except Exception:  # a database hiccup must not kill the work; try again later
                log.exception("could not renew lease %r", name)

    current = await ctx.database.run(acquire)
    if current is not None:
        raise LeaseTaken(name, current["holder"], current["expires_at"])
    renewer = asyncio.create_task(keep_renewing())
    try:
        yield
    finally:
        renewer.cancel()
        await asyncio.gather(renewer, return_exceptions=True)
        await ctx.database.run(release)

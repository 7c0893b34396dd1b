"""Leases: one holder at a time, renewed while the work runs, free again when it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailer.bootstrap import build_context
from mailer.errors import LeaseTaken
from mailer.schedules.leases import held_lease
from mailer.store import leases
from mailer.store.db import write_transaction
from tests.schedule_support import FakeClock
from tests.schedules.support import wait_for


def test_leases_are_exclusive_until_released_or_expired(context):
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    later = t + timedelta(seconds=60)
    with write_transaction(context.engine) as conn:
        assert leases.acquire_lease(conn, "poll", holder="A", now=t, expires_at=later)
        assert not leases.acquire_lease(conn, "poll", holder="B", now=t, expires_at=later)
        assert leases.acquire_lease(conn, "poll", holder="A", now=t, expires_at=later)
        assert not leases.renew_lease(conn, "poll", holder="B", expires_at=later)
        assert leases.get_lease(conn, "poll")["holder"] == "A"
        # Expired: anyone may take it.
        assert leases.acquire_lease(
            conn, "poll", holder="B", now=later, expires_at=later + timedelta(seconds=60)
        )
        assert not leases.release_lease(conn, "poll", holder="A")
        assert leases.release_lease(conn, "poll", holder="B")
        assert leases.get_lease(conn, "poll") is None


async def test_a_held_lease_is_renewed_while_the_work_runs(make_settings, database_url):
    context = build_context(make_settings(database_url=database_url))
    clock = FakeClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))

    def expiry() -> datetime:
        with context.engine.connect() as conn:
            return leases.get_lease(conn, "poll")["expires_at"]

    try:
        async with held_lease(context, "poll", holder="A", clock=clock, seconds=0.3):
            for _ in range(3):
                # Past the lease's end: only a renewal by A (every third of its length)
                # keeps B out, so wait for that renewal before B tries.
                clock.advance(seconds=1)
                await wait_for(lambda: expiry() > clock.now)
                with pytest.raises(LeaseTaken, match="held by A until"):
                    async with held_lease(context, "poll", holder="B", clock=clock):
                        pass
        with context.engine.connect() as conn:
            assert leases.get_lease(conn, "poll") is None
        async with held_lease(context, "poll", holder="B", clock=clock):
            pass
    finally:
        context.close()

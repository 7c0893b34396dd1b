"""Helpers of the scheduler tests: what the probe job recorded, and waiting for an event."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from tests.schedule_support import probe_rows


def fired(ctx) -> list[datetime]:
    """The fire times the in-process probe job ran for, in run order."""
    return [datetime.fromisoformat(row["detail"]["fire_time"]) for row in probe_rows(ctx.engine)]


async def wait_for(condition: Callable[[], bool], *, timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds; fail after ``timeout`` seconds (a deadline, not evidence)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)

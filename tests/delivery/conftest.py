"""The delivery tests' context: sending to the fault-injecting test relay, with fast retries."""

from __future__ import annotations

import pytest

from mailer.bootstrap import build_context


@pytest.fixture
def make_ctx(make_settings, database_url, smtp_server):
    """An AppContext sending to the test relay; delivery settings as keywords.

    Digests and notices both retry within a fraction of a second, so one
    ``run_worker(until_idle=True)`` sees a deferral through to its retry.
    """
    made = []

    def build(
        connections: int = 2,
        smtp: dict | None = None,
        subscriptions: dict | None = None,
        **delivery,
    ):
        options = {
            "backoff_base": 0.05,
            "backoff_max": 0.1,
            "poll_seconds": 0.2,
            "batch_size": 5,
            "pause_window": 1000,
            **delivery,
        }
        settings = make_settings(
            database_url=database_url,
            base_url="https://news.example.or.kr",
            smtp={
                "host": smtp_server.host,
                "port": smtp_server.port,
                "connections": connections,
                "timeout": 5,
                **(smtp or {}),
            },
            delivery=options,
            subscriptions={
                "notice_backoff_base": 0.05,
                "notice_backoff_max": 0.1,
                **(subscriptions or {}),
            },
        )
        ctx = build_context(settings)
        made.append(ctx)
        return ctx

    yield build
    for ctx in made:
        ctx.close()

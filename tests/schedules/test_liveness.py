"""Scheduler liveness: heartbeats recorded, pruned and removed; staff told when none beats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailer.schedules.liveness import scheduler_liveness
from mailer.store import heartbeats as heartbeat_store
from mailer.store.db import write_transaction

# ----------------------------------------------------------------------------- liveness


def test_liveness_reports_no_scheduler_a_stale_one_and_a_live_one(context):
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    nobody = scheduler_liveness(context, now=now)
    assert nobody.alive is False
    assert nobody.message.startswith("no scheduler is running")
    with write_transaction(context.engine) as conn:
        heartbeat_store.record_heartbeat(
            conn, "h:1:a", role="scheduler", host="h", pid=1, started_at=now, now=now
        )
    stale = scheduler_liveness(context, now=now + timedelta(seconds=121))
    assert stale.alive is False
    assert stale.message.startswith(
        "no scheduler heartbeat for 2 min 1 s (last: h pid 1 at 2026-12-01 12:00:00 UTC)"
    )
    fresh = scheduler_liveness(context, now=now + timedelta(seconds=119))
    assert fresh.alive is True
    assert fresh.running == 1


def test_heartbeats_refresh_prune_and_remove(context):
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with write_transaction(context.engine) as conn:
        for instance, seen in [("a", t), ("b", t - timedelta(days=8))]:
            heartbeat_store.record_heartbeat(
                conn, instance, role="scheduler", host="h", pid=1, started_at=seen, now=seen
            )
        heartbeat_store.record_heartbeat(
            conn, "a", role="scheduler", host="h", pid=1, started_at=t, now=t + timedelta(seconds=5)
        )
        assert heartbeat_store.latest_heartbeat(conn, role="scheduler")["seen_at"] == t + timedelta(
            seconds=5
        )
        assert heartbeat_store.prune_heartbeats(conn, before=t - timedelta(days=7)) == 1
        heartbeat_store.remove_heartbeat(conn, "a")
        assert heartbeat_store.latest_heartbeat(conn, role="scheduler") is None

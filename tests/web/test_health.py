"""/healthz reports whether a scheduler is alive, without failing the web's own health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from mailer.seed import initialise
from mailer.store import heartbeats
from mailer.store.db import write_transaction
from mailer.web.app import create_app


async def _healthz(context) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://mailer.test") as client:
        return await client.get("/healthz")


async def test_healthz_is_degraded_while_no_scheduler_beats_and_ok_once_one_does(context):
    initialise(context)
    response = await _healthz(context)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "version", "checks"}
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["scheduler"].startswith("stale: no scheduler is running")

    silent_since = datetime.now(UTC) - timedelta(minutes=3)
    with write_transaction(context.engine) as conn:
        heartbeats.record_heartbeat(
            conn,
            "s:1:x",
            role="scheduler",
            host="s",
            pid=1,
            started_at=silent_since,
            now=silent_since,
        )
    body = (await _healthz(context)).json()
    assert body["status"] == "degraded"
    assert body["checks"]["scheduler"].startswith("stale: no scheduler heartbeat for 3 min")

    with write_transaction(context.engine) as conn:
        now = datetime.now(UTC)
        heartbeats.record_heartbeat(
            conn, "s:1:x", role="scheduler", host="s", pid=1, started_at=silent_since, now=now
        )
    response = await _healthz(context)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["checks"] == {"database": "ok", "scheduler": "ok"}

"""/healthz: ok, degraded (200) or down (503), naming the check — scheduler, every send worker, paused editions, a stuck backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from mailer import delivery
from mailer.bootstrap import build_context
from mailer.seed import initialise
from mailer.store import heartbeats
from mailer.store.db import write_transaction
from mailer.web.app import create_app
from tests.delivery_data import add_edition, add_subscribers, edition_row
from tests.helpers import cli_env, offline_config_dir, start_cli, stop, wait_for
from tests.served_app import serve_app


async def _healthz(context) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://mailer.test") as client:
        return await client.get("/healthz")


def _beat(context, instance: str, *, role: str, at: datetime) -> None:
    with write_transaction(context.engine) as conn:
        heartbeats.record_heartbeat(
            conn, instance, role=role, host="h", pid=1, started_at=at, now=at
        )


async def test_healthz_is_degraded_while_no_scheduler_beats_and_ok_once_one_does(context):
    initialise(context)
    response = await _healthz(context)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "version", "checks", "failed", "workers"}
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["scheduler"].startswith("stale: no scheduler is running")
    # Served without its lifespan (no worker of its own) and no worker process beats.
    assert body["checks"]["workers"].startswith("stale: no send worker is running")
    assert body["failed"] == {"scheduler": "degraded", "workers": "degraded"}

    silent_since = datetime.now(UTC) - timedelta(minutes=3)
    _beat(context, "s:1:x", role="scheduler", at=silent_since)
    body = (await _healthz(context)).json()
    assert body["status"] == "degraded"
    assert body["checks"]["scheduler"].startswith("stale: no scheduler heartbeat for 3 min")

    now = datetime.now(UTC)
    _beat(context, "s:1:x", role="scheduler", at=now)
    _beat(context, "w:1:x", role="worker", at=now)
    response = await _healthz(context)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == dict.fromkeys(
        ("database", "scheduler", "workers", "paused", "backlog"), "ok"
    )
    assert body["failed"] == {}
    assert [w["instance"] for w in body["workers"]] == ["w:1:x"]


@pytest.fixture
def make_ctx(make_settings, database_url, smtp_server, tmp_path):
    made = []

    def build(*, dkim: dict | None = None, **delivery_settings):
        context = build_context(
            make_settings(
                database_url=database_url,
                config_dir=offline_config_dir(),
                base_url="https://news.example.or.kr",
                smtp={"host": smtp_server.host, "port": smtp_server.port, "connections": 2},
                delivery={
                    "backoff_base": 0.05,
                    "backoff_max": 0.1,
                    "poll_seconds": 0.2,
                    **delivery_settings,
                },
                **({"dkim": dkim} if dkim else {}),
            )
        )
        initialise(context)
        made.append(context)
        return context

    yield build
    for context in made:
        context.close()


def _health(base: str) -> httpx.Response:
    return httpx.get(f"{base}/healthz", timeout=10)


def test_a_crashed_worker_of_this_process_makes_healthz_down(make_ctx, tmp_path):
    """`mailer serve`'s own worker dies (here: its DKIM key cannot be read) → 503, "workers"."""
    context = make_ctx(
        dkim={
            "enabled": True,
            "domain": "example.or.kr",
            "selector": "mailer",
            "private_key_path": str(tmp_path / "missing.pem"),
        }
    )
    with serve_app(context) as base:
        response = wait_for(
            lambda: (r := _health(base)).status_code == 503 and r,
            timeout=30,
            what="/healthz to see the dead worker",
        )
        body = response.json()
        assert body["status"] == "down"
        assert body["failed"]["workers"] == "down"
        assert body["checks"]["workers"].startswith(
            "down: the delivery worker of this process stopped: ConfigError: cannot read the DKIM"
        )
        # The pages still work: only the worker is gone.
        assert httpx.get(f"{base}/", timeout=10).status_code == 200


def test_a_cancelled_worker_task_is_down_and_a_running_one_is_ok(make_ctx):
    context = make_ctx()
    app = create_app(context, listen_host="127.0.0.1")
    with serve_app(context, app=app) as base:
        wait_for(lambda: _health(base).json()["workers"], timeout=30, what="the worker's heartbeat")
        assert _health(base).json()["checks"]["workers"] == "ok"
        task = app.state.delivery_worker
        task.get_loop().call_soon_threadsafe(task.cancel)
        body = wait_for(
            lambda: (r := _health(base)).status_code == 503 and r.json(),
            timeout=30,
            what="/healthz to see the cancelled worker",
        )
        assert body["checks"]["workers"] == (
            "down: the delivery worker of this process was cancelled"
        )


def test_a_sigkilled_worker_process_is_reported_stale(
    make_ctx, tmp_path, database_url, smtp_server
):
    context = make_ctx(stale_after=2, heartbeat_seconds=0.2)
    env = cli_env(
        MAILER_DATABASE_URL=database_url,
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_SECRET_KEY=context.settings.secret(),
        MAILER_SMTP__HOST=smtp_server.host,
        MAILER_SMTP__PORT=str(smtp_server.port),
        MAILER_DELIVERY__HEARTBEAT_SECONDS="0.2",
        MAILER_DELIVERY__STALE_AFTER="2",
        MAILER_LOG_LEVEL="warning",
    )
    with serve_app(context, worker=False) as base:
        assert (
            _health(base).json()["checks"]["workers"].startswith("stale: no send worker is running")
        )
        worker = start_cli("worker", env=env, cwd=tmp_path)
        try:
            body = wait_for(
                lambda: (b := _health(base).json())["checks"]["workers"] == "ok" and b,
                timeout=60,
                what="the worker process's heartbeat",
            )
            [seen] = body["workers"]
            assert seen["pid"] == worker.pid and not seen["stale"]
            worker.kill()  # SIGKILL: it cannot leave the registry
            worker.wait()
            response = wait_for(
                lambda: (r := _health(base)).json()["failed"].get("workers") and r,
                timeout=30,
                what="/healthz to see the silent worker",
            )
        finally:
            stop(worker)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["workers"].startswith("stale: send worker ")
    assert f"pid {worker.pid} silent for" in body["checks"]["workers"]
    assert [w["stale"] for w in body["workers"]] == [True]


async def test_a_paused_edition_is_reported(make_ctx, smtp_server):
    """The relay refuses the sender: the edition pauses itself, and /healthz says which."""
    context = make_ctx(pause_window=4, batch_size=4)
    add_subscribers(context.engine, 8)
    edition_id = add_edition(context.engine, number=3)
    delivery.queue_edition(context, edition_id)
    smtp_server.fail("MAIL", 451, "<news@example.or.kr> sender refused", times=None)
    await delivery.run_worker(context, until_idle=True)
    assert edition_row(context.engine, edition_id)["state"] == "paused"
    with serve_app(context, worker=False) as base:
        response = _health(base)
    assert response.status_code == 200
    body = response.json()
    assert body["failed"]["paused"] == "degraded"
    assert body["checks"]["paused"].startswith(
        "degraded: edition 3: paused by relay failures: 4 of the last 4"
    )
    assert "`mailer digest resume 3`" in body["checks"]["paused"]
    # The relay's reply is quoted, its address redacted as in the logs.
    assert "[email]> sender refused" in body["checks"]["paused"]
    assert "@" not in body["checks"]["paused"]


async def test_a_stuck_backlog_is_reported_until_a_worker_takes_it(make_ctx, smtp_server):
    context = make_ctx(stuck_after=1)
    add_subscribers(context.engine, 5)
    edition_id = add_edition(context.engine)
    delivery.queue_edition(context, edition_id)
    with serve_app(context, worker=False) as base:
        body = wait_for(
            lambda: (b := _health(base).json())["failed"].get("backlog") and b,
            timeout=30,
            what="the queued edition to be overdue",
        )
        assert body["checks"]["backlog"].startswith("degraded: 5 messages due for up to ")
        assert "no send started since they became due" in body["checks"]["backlog"]
        await delivery.run_worker(context, until_idle=True)
        assert edition_row(context.engine, edition_id)["state"] == "sent"
        assert _health(base).json()["checks"]["backlog"] == "ok"

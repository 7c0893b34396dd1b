"""/metrics on a served app: after a real edition through a real relay, its numbers are the database's; a separate worker's deliveries show too."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mailer import delivery
from mailer.bootstrap import build_context
from mailer.digest import create_edition
from mailer.feeds import add_feed, poll_feeds
from mailer.seed import initialise
from mailer.store.db import write_transaction
from tests.delivery_data import add_subscribers, delivery_rows, edition_row
from tests.digest_data import week_of_news
from tests.helpers import cli_env, offline_config_dir, start_cli, stop, wait_for, wait_for_output
from tests.served_app import serve_app

RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>Bio</title></channel></rss>"
SUBSCRIBERS = 12
#: Addresses the relay refuses for good (550 to RCPT: no such mailbox).
REFUSED = {"reader3@example.kr", "reader7@example.kr"}


@pytest.fixture
def ctx(make_settings, database_url, smtp_server):
    """A context sending to the test relay with retries within a fraction of a second."""
    context = build_context(
        make_settings(
            database_url=database_url,
            config_dir=offline_config_dir(),
            base_url="https://news.example.or.kr",
            smtp={"host": smtp_server.host, "port": smtp_server.port, "connections": 2},
            feeds={"allow_private": True, "timeout": 5},
            delivery={
                "backoff_base": 0.05,
                "backoff_max": 0.1,
                "poll_seconds": 0.2,
                "batch_size": 5,
                "pause_window": 1000,
            },
        )
    )
    initialise(context)
    yield context
    context.close()


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape, parsed by prometheus_client: (name, labels) → value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """The samples of ``url`` (a base URL: its /metrics)."""
    response = httpx.get(url if url.endswith("/metrics") else f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def deliveries_shown(samples: dict, edition: int) -> dict[str, int]:
    return {
        dict(labels)["state"]: int(count)
        for (name, labels), count in samples.items()
        if name == "mailer_deliveries" and dict(labels)["edition"] == str(edition)
    }


def make_edition(ctx) -> tuple[int, int]:
    """A real edition of a week's stories, queued for ``SUBSCRIBERS`` readers: (id, number)."""
    now = datetime.now(UTC)
    add_subscribers(ctx.engine, SUBSCRIBERS)
    with write_transaction(ctx.engine) as conn:
        week_of_news(conn, now=now)
    edition = create_edition(ctx, schedule="manual", scheduled_for=now)
    assert edition.number is not None
    assert delivery.queue_edition(ctx, edition.id) == SUBSCRIBERS
    return edition.id, edition.number


def process_env(tmp_path, ctx, smtp_server) -> dict[str, str]:
    """The environment of a `mailer` process on ``ctx``'s database, sending to the test relay."""
    return cli_env(
        MAILER_DATABASE_URL=str(ctx.settings.database_url),
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_SECRET_KEY=ctx.settings.secret(),
        MAILER_BASE_URL="https://news.example.or.kr",
        MAILER_SMTP__HOST=smtp_server.host,
        MAILER_SMTP__PORT=str(smtp_server.port),
        MAILER_DELIVERY__POLL_SECONDS="0.2",
        MAILER_LOG_LEVEL="warning",
    )


def states_in_database(ctx, edition_id: int) -> Counter:
    return Counter(row["state"] for row in delivery_rows(ctx.engine, edition_id))


async def test_metrics_after_an_edition_match_the_database(ctx, smtp_server, feed_server):
    add_feed(ctx, feed_server.add("/rss", RSS), name="바이오 뉴스")
    failing = add_feed(ctx, feed_server.add("/down", RSS, status=500), name="꺼진 피드")
    await poll_feeds(ctx)
    smtp_server.fail("RCPT", 550, "no such user", times=None, when=REFUSED.__contains__)
    smtp_server.fail(
        "RCPT", 451, "greylisted", when=lambda address: address == "reader5@example.kr"
    )
    edition_id, number = make_edition(ctx)

    with serve_app(ctx) as base:
        wait_for(
            lambda: edition_row(ctx.engine, edition_id)["state"] == "sent",
            timeout=60,
            what="the edition sent by the app's own worker",
        )
        samples = scrape(base)

    states = states_in_database(ctx, edition_id)
    assert states == {"sent": SUBSCRIBERS - len(REFUSED), "failed": len(REFUSED)}
    shown = deliveries_shown(samples, number)
    assert shown == {state: states.get(state, 0) for state in shown}
    assert set(shown) == {"queued", "sending", "sent", "deferred", "failed", "unknown", "skipped"}
    assert (
        value(samples, "mailer_deliveries", edition=str(number), edition_state="sent", state="sent")
        == states["sent"]
    )
    # This process's own counters: the worker of the served app sent them.
    assert value(samples, "mailer_messages_sent_total", kind="digest") == states["sent"]
    assert value(samples, "mailer_smtp_reply_seconds_count", reply="2xx") == states["sent"]
    assert value(samples, "mailer_smtp_reply_seconds_count", reply="5xx") == len(REFUSED)
    assert value(samples, "mailer_smtp_reply_seconds_count", reply="4xx") == 1
    assert value(samples, "mailer_smtp_reply_seconds_count", reply="connection_error") == 0
    assert value(samples, "mailer_edition_build_seconds_count", state="draft") == 1
    assert value(samples, "mailer_feed_polls_total", status="ok") == 1
    assert value(samples, "mailer_feed_polls_total", status="error") == 1
    assert (
        value(
            samples, "mailer_feed_consecutive_failures", feed_id=str(failing.id), feed="꺼진 피드"
        )
        == 1
    )
    assert value(samples, "mailer_feeds_failing") == 1
    # The system's state, read from the database at scrape time.
    assert value(samples, "mailer_queue_depth") == 0
    assert value(samples, "mailer_deferred_backlog") == 0
    assert value(samples, "mailer_paused_editions") == 0
    for state in ("queued", "deferred", "sending"):
        assert value(samples, "mailer_notice_backlog", state=state) == 0
    assert value(samples, "mailer_live_processes", role="worker") == 1
    ages = [v for (name, labels), v in samples.items() if name == "mailer_heartbeat_age_seconds"]
    assert len(ages) == 1 and ages[0] >= 0


def test_a_separate_worker_shows_on_the_web_and_on_its_own_port(tmp_path, ctx, smtp_server):
    """`mailer serve --no-worker` beside a `mailer worker` process: the web's /metrics sees
    the deliveries (database); the worker's counters are on its own --metrics-port."""
    smtp_server.fail("RCPT", 550, "no such user", times=None, when=REFUSED.__contains__)
    edition_id, number = make_edition(ctx)
    env = process_env(tmp_path, ctx, smtp_server)
    with serve_app(ctx, worker=False) as base:
        before = scrape(base)
        assert deliveries_shown(before, number)["queued"] == SUBSCRIBERS
        assert value(before, "mailer_queue_depth") == SUBSCRIBERS
        worker = start_cli("worker", "--metrics-port", "0", env=env, cwd=tmp_path)
        try:
            address = wait_for_output(worker, re.compile(r"metrics of this process on (\S+)"))
            wait_for(
                lambda: edition_row(ctx.engine, edition_id)["state"] == "sent",
                timeout=60,
                what="the edition sent by the separate worker",
            )
            web = scrape(base)
            own = scrape(address.group(1))
        finally:
            output = stop(worker)
    states = states_in_database(ctx, edition_id)
    assert states == {"sent": SUBSCRIBERS - len(REFUSED), "failed": len(REFUSED)}, output
    shown = deliveries_shown(web, number)
    assert {state: count for state, count in shown.items() if count} == states
    assert value(web, "mailer_queue_depth") == 0
    assert value(web, "mailer_live_processes", role="worker") == 1
    # The web process sent nothing itself: the worker's counters are not on its /metrics.
    assert value(web, "mailer_messages_sent_total", kind="digest") == 0
    assert value(own, "mailer_messages_sent_total", kind="digest") == states["sent"]
    assert value(own, "mailer_smtp_reply_seconds_count", reply="5xx") == len(REFUSED)
    # The worker's own endpoint holds no database view (that would be counted twice).
    assert not any(name == "mailer_deliveries" for name, _ in own)


def test_a_scheduler_process_serves_its_own_counters(tmp_path, ctx, smtp_server):
    scheduler = start_cli(
        "scheduler",
        "--metrics-port",
        "0",
        env=process_env(tmp_path, ctx, smtp_server),
        cwd=tmp_path,
    )
    try:
        address = wait_for_output(scheduler, re.compile(r"metrics of this process on (\S+)"))
        own = scrape(address.group(1))
    finally:
        stop(scheduler)
    assert ("mailer_feed_polls_total", frozenset({("status", "error")})) in own
    assert not any(name == "mailer_queue_depth" for name, _ in own)

"""JSON logs (issue 14 item 3): real `mailer scheduler`, `worker` and `serve` processes with MAILER_LOG__FORMAT=json.

Every line a process writes to stderr must be one JSON object; the summary lines of a
feed poll run, an edition and a worker batch carry their figures as fields; and no
line carries an address, a link token or the secret key — the redaction of the text
format (tests/web/test_log_redaction.py) holds for every field.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update

from mailer.bootstrap import build_context
from mailer.config import load_settings
from mailer.logs import redact
from mailer.store.db import write_transaction
from mailer.store.tables import editions, feeds, subscribers
from tests.cli.test_feeds import recent_feed
from tests.delivery_data import add_subscribers
from tests.digest_data import week_of_news
from tests.helpers import (
    TEST_SECRET,
    cli_env,
    link_token,
    pause_schedules,
    run_cli,
    start_cli,
    start_serve,
    stop,
    wait_for,
)
from tests.schedule_support import add_schedule, runs
from tests.web.serve_support import confirmation_path, sign_up

READER = "json.reader+news@example.kr"


def json_records(text: str) -> list[dict]:
    """Every non-empty line of ``text`` as a JSON object; fails naming the first line that is not."""
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n{text}") from None
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= set(record), line
        records.append(record)
    return records


def events(records: list[dict], name: str) -> list[dict]:
    return [record for record in records if record.get("event") == name]


def assert_nothing_personal(text: str, *, secrets: list[str]) -> None:
    """No address, token or secret in any field: each string value is what redaction leaves."""
    for secret in secrets:
        assert secret not in text, f"{secret!r} in the log:\n{text}"
    assert "@" not in text.replace("[email]", ""), f"an address in the log:\n{text}"
    for record in json_records(text):
        for key, value in record.items():
            if isinstance(value, str) and key != "time":
                assert redact(value) == value, f"unredacted {key}: {value!r}"


def process_env(tmp_path, **extra: str) -> dict[str, str]:
    return cli_env(
        MAILER_DATABASE_URL=f"sqlite:///{tmp_path / 'mailer.db'}",
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_SECRET_KEY=TEST_SECRET,
        MAILER_LOG_LEVEL="info",
        MAILER_LOG__FORMAT="json",
        MAILER_SCHEDULER__HEARTBEAT_SECONDS="0.5",
        MAILER_DELIVERY__POLL_SECONDS="0.2",
        **extra,
    )


def test_scheduler_and_worker_write_json_summaries_of_a_poll_an_edition_and_a_batch(
    tmp_path, smtp_server, feed_server
):
    env = process_env(
        tmp_path,
        MAILER_SMTP__HOST=smtp_server.host,
        MAILER_SMTP__PORT=str(smtp_server.port),
        MAILER_FEEDS__ALLOW_PRIVATE="true",
    )
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    items = [
        ("바이오 신약 허가 신청", "https://bio.example.kr/1"),
        ("바이오 특화단지", "https://bio.example.kr/2"),
    ]
    url = feed_server.add("/rss", recent_feed("바이오 뉴스", items))
    added = run_cli("feeds", "add", url, env=env, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    pause_schedules(env["MAILER_DATABASE_URL"], "poll", "digest", "reconfirm", "purge")
    context = build_context(
        load_settings(
            database_url=env["MAILER_DATABASE_URL"],
            data_dir=tmp_path / "var",
            secret_key=TEST_SECRET,
        )
    )
    try:
        add_subscribers(context.engine, 3)
        with write_transaction(context.engine) as conn:
            week_of_news(conn, now=datetime.now(UTC))
            # Its outlets' feeds are on the internet: only the local one is polled.
            conn.execute(update(feeds).where(feeds.c.url != url).values(enabled=False))
        # A fire time ten minutes ago that no scheduler saw: both run at start-up (catch-up).
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        missed = now - timedelta(minutes=10)
        for kind in ("poll", "digest"):
            add_schedule(
                context.engine,
                f"missed-{kind}",
                kind=kind,
                cron=f"{missed.minute} {missed.hour} * * *",
                updated_at=now - timedelta(hours=1),
            )
        scheduler = start_cli("scheduler", env=env, cwd=tmp_path, stdout=tmp_path / "out")
        try:
            wait_for(
                lambda: all(
                    [row["outcome"] for row in runs(context.engine, f"missed-{kind}")] == ["ran"]
                    for kind in ("poll", "digest")
                ),
                timeout=90,
                what="the missed poll and digest runs",
            )
        finally:
            scheduler_log = stop(scheduler)
        assert scheduler.returncode == 0, scheduler_log
        worker = run_cli("worker", "--until-idle", env=env, cwd=tmp_path, timeout=120)
        assert worker.returncode == 0, worker.stderr
        with context.engine.connect() as conn:
            seeds = conn.execute(select(subscribers.c.token_seed)).all()
            numbers = conn.execute(select(editions.c.number)).scalars().all()
    finally:
        context.close()

    scheduled = json_records(scheduler_log)
    [poll] = events(scheduled, "feed_poll")
    assert (poll["feeds"], poll["ok"], poll["not_modified"], poll["error"]) == (1, 1, 0, 0)
    assert poll["new_stories"] == 2
    assert isinstance(poll["duration_seconds"], float)
    assert poll["level"] == "INFO" and "1 feed(s) polled" in poll["message"]
    [edition] = events(scheduled, "edition_created")
    assert numbers == [1] and edition["edition"] == 1
    assert edition["deliveries_queued"] == 3 and edition["stories"] >= 1
    assert isinstance(edition["build_seconds"], float)

    # One batch: claimed, sent, and the worker found no more work.
    [batch] = events(json_records(worker.stderr), "worker_batch")
    assert (batch["claimed"], batch["sent"], batch["deferred"]) == (3, 3, 0)
    assert (batch["failed"], batch["unknown"], batch["skipped"]) == (0, 0, 0)
    assert isinstance(batch["duration_seconds"], float) and "claimed 3, sent 3" in batch["message"]
    assert len(smtp_server.messages) == 3
    # What the worker prints for people stays on stdout, as text.
    assert "worker started" in worker.stdout

    tokens = [link_token({"token_seed": seed}) for (seed,) in seeds]
    for log in (scheduler_log, worker.stderr):
        assert_nothing_personal(log, secrets=[TEST_SECRET, *tokens, "reader0"])


def test_serve_writes_its_access_log_and_its_worker_batches_as_redacted_json(tmp_path, smtp_server):
    env = process_env(
        tmp_path, MAILER_SMTP__HOST=smtp_server.host, MAILER_SMTP__PORT=str(smtp_server.port)
    )
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    launch = functools.partial(start_cli, stdout=tmp_path / "serve.out")
    serve, base, _ = start_serve("--no-scheduler", env=env, cwd=tmp_path, start=launch)
    try:
        with httpx.Client(base_url=base) as http:
            assert http.get("/subscribe", params={"email": READER, "lang": "ko"}).status_code == 200
            assert sign_up(http, READER).status_code == 200
            confirm = confirmation_path(smtp_server, READER)
            assert http.get(confirm).status_code == 200
            assert http.get("/healthz").status_code == 200
    finally:
        log = stop(serve)
    assert serve.returncode == 0, log

    records = json_records(log)
    access = [record["message"] for record in records if record["logger"] == "uvicorn.access"]
    assert any("/subscribe?email=[redacted]&lang=ko" in line for line in access), access
    assert any("/confirm/[token]" in line for line in access), access
    assert any("Uvicorn running on" in record["message"] for record in records)
    # The confirmation mail went out through serve's own worker, in one batch line or more.
    batches = events(records, "worker_batch")
    assert sum(batch["sent"] for batch in batches) == 1, batches
    assert "color_message" not in log
    assert_nothing_personal(log, secrets=[confirm.rsplit("/", 1)[1], TEST_SECRET, "json.reader"])


def test_json_lines_redact_extra_fields_arguments_and_tracebacks():
    script = textwrap.dedent(
        """
        import logging
        from mailer.logs import configure_logging

        configure_logging("info", log_format="json")
        log = logging.getLogger("mailer.delivery")
        log.warning(
            "refused %s", "who@example.kr",
            extra={"to": "who@example.kr", "path": "/unsubscribe/Tok3n-abc", "count": 2,
                   "more": ["who@example.kr", 1.5], "nested": {"who": "who@example.kr"}},
        )
        try:
            raise ValueError("recipient who@example.kr refused at /unsubscribe/Tok3n-abc")
        except ValueError:
            log.exception("unexpected error")
        log.info("서울 %d건", 3, stack_info=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    refused, failed, korean = json_records(result.stderr)
    assert refused["message"] == "refused [email]" and refused["level"] == "WARNING"
    assert refused["to"] == "[email]" and refused["path"] == "/unsubscribe/[token]"
    assert refused["count"] == 2 and refused["more"] == ["[email]", 1.5]
    assert refused["nested"] == {"who": "[email]"}
    assert "ValueError: recipient [email] refused at /unsubscribe/[token]" in failed["exc_info"]
    assert korean["message"] == "서울 3건" and "stack_info" in korean
    assert "who@example.kr" not in result.stderr and "Tok3n-abc" not in result.stderr
    assert result.stderr.endswith("\n")


def test_text_lines_stay_as_they_were(tmp_path):
    script = textwrap.dedent(
        """
        import logging
        from mailer.logs import configure_logging

        configure_logging("info")
        logging.getLogger("mailer.digest").info(
            "edition %s queued", 3, extra={"event": "edition_created", "to": "who@example.kr"}
        )
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert line.endswith(" INFO mailer.digest: edition 3 queued")
    assert "event" not in line and "who@" not in line

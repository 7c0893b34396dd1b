"""`mailer schedules …` as a user runs it: list with local next runs, set, pause, resume, clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from mailer.bootstrap import build_context
from mailer.config import load_settings
from mailer.store import heartbeats
from mailer.store.db import write_transaction
from tests.helpers import cli_env, run_cli


def _beat(database_url: str, tmp_path, *, seen: datetime) -> None:
    context = build_context(load_settings(database_url=database_url, data_dir=tmp_path / "var"))
    try:
        with write_transaction(context.engine) as conn:
            heartbeats.record_heartbeat(
                conn,
                "web1:77:abc",
                role="scheduler",
                host="web1",
                pid=77,
                started_at=seen,
                now=seen,
            )
    finally:
        context.close()


def test_list_set_pause_and_resume(tmp_path, database_url):
    env = cli_env(
        MAILER_DATABASE_URL=database_url, MAILER_DATA_DIR=str(tmp_path / "var"), COLUMNS="200"
    )
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0

    listed = run_cli("schedules", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    digest = lines.index("digest (digest): enabled")
    assert lines[digest + 1] == "  cron      0 9 * * mon  (Asia/Seoul), grace 6 h"
    assert lines[digest + 2] == "  when      매주 월요일 오전 9:00 (Asia/Seoul)"
    next_runs = lines[digest + 3].removeprefix("  next      ").split(", ")
    assert len(next_runs) == 3
    assert all(run.startswith("Mon ") and run.endswith(" 09:00 KST") for run in next_runs)
    assert lines[digest + 4] == "  last run  none yet"
    # No scheduler has ever run against this database: say so, on stderr.
    assert "warning: no scheduler is running, so no schedule fires" in listed.stderr

    changed = run_cli(
        "schedules", "set", "digest", "*/2 * * * *", "--timezone", "UTC", env=env, cwd=tmp_path
    )
    assert changed.returncode == 0, changed.stderr
    assert "  cron      */2 * * * *  (UTC), grace 6 h" in changed.stdout
    assert "  when      2분마다 (UTC)" in changed.stdout

    paused = run_cli("schedules", "pause", "poll", env=env, cwd=tmp_path)
    assert paused.returncode == 0, paused.stderr
    assert "poll (poll): paused" in paused.stdout
    assert "next      none while paused (`mailer schedules resume poll`)" in paused.stdout

    as_json = run_cli("schedules", "list", "--json", "--next", "2", env=env, cwd=tmp_path)
    body = json.loads(as_json.stdout)
    by_name = {item["name"]: item for item in body["schedules"]}
    assert by_name["poll"]["state"] == "paused"
    assert by_name["poll"]["next_runs"] == []
    digest_runs = [datetime.fromisoformat(t) for t in by_name["digest"]["next_runs"]]
    assert len(digest_runs) == 2
    assert digest_runs[1] - digest_runs[0] == timedelta(minutes=2)
    assert all(t.utcoffset() == timedelta(0) and t.minute % 2 == 0 for t in digest_runs)
    assert body["scheduler"]["alive"] is False

    resumed = run_cli("schedules", "resume", "poll", env=env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "poll (poll): enabled" in resumed.stdout


def test_heartbeat_staleness_is_shown(tmp_path, database_url):
    env = cli_env(MAILER_DATABASE_URL=database_url, MAILER_DATA_DIR=str(tmp_path / "var"))
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0

    _beat(database_url, tmp_path, seen=datetime.now(UTC) - timedelta(minutes=5))
    stale = run_cli("schedules", "list", env=env, cwd=tmp_path)
    assert stale.returncode == 0
    assert "warning: no scheduler heartbeat for 5 min" in stale.stderr
    assert "(last: web1 pid 77 at " in stale.stderr

    _beat(database_url, tmp_path, seen=datetime.now(UTC))
    fresh = run_cli("schedules", "list", env=env, cwd=tmp_path)
    assert "warning" not in fresh.stderr
    assert "scheduler: 1 scheduler(s) running, last heartbeat" in fresh.stdout


def test_bad_input_is_refused_with_what_is_wrong(tmp_path):
    env = cli_env(MAILER_DATA_DIR=str(tmp_path / "var"))
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    cases = [
        (
            ("digest", "*/2 * * *"),
            2,
            "invalid cron expression '*/2 * * *': it has 4 field(s), expected 5",
        ),
        (("digest", "0 9 * * 1"), 2, "write the day of week with names"),
        (("digest", "0 25 * * mon"), 2, "hour field '25'"),
        (
            ("digest", "0 9 * * mon", "--timezone", "Korea/Seoul"),
            2,
            "unknown time zone 'Korea/Seoul'",
        ),
        (("weekly", "0 9 * * mon"), 1, "schedule weekly not found"),
    ]
    for args, code, message in cases:
        result = run_cli("schedules", "set", *args, env=env, cwd=tmp_path)
        assert result.returncode == code, (args, result.stderr)
        assert message in " ".join(result.stderr.split()), (args, result.stderr)
    # Nothing was changed by the refused edits.
    listed = run_cli("schedules", "list", env=env, cwd=tmp_path)
    assert "  cron      0 9 * * mon  (Asia/Seoul), grace 6 h" in listed.stdout

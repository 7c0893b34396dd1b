"""`mailer backup FILE`: an online copy of a live SQLite database, and a restore from it that works."""

from __future__ import annotations

import json
import shutil

from tests.helpers import TEST_SECRET, cli_env, run_cli, start_serve, stop, wait_for_http


def subscriber_emails(env, cwd) -> list[str]:
    listed = run_cli("subscribers", "list", "--json", env=env, cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    return sorted(row["email"] for row in json.loads(listed.stdout))


def add(address: str, *, env, cwd) -> None:
    added = run_cli("subscribers", "add", address, "--confirmed", "--no-notice", env=env, cwd=cwd)
    assert added.returncode == 0, added.stderr


def test_a_backup_taken_while_serve_runs_restores_into_a_working_database(tmp_path):
    live = tmp_path / "live"
    env = cli_env(
        MAILER_DATABASE_URL=f"sqlite:///{live / 'mailer.db'}",
        MAILER_DATA_DIR=str(live),
        MAILER_SECRET_KEY=TEST_SECRET,
    )
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    add("before@example.kr", env=env, cwd=tmp_path)
    serve, base, env = start_serve("--no-scheduler", env=env, cwd=tmp_path)
    try:
        add("during@example.kr", env=env, cwd=tmp_path)
        made = run_cli("backup", str(tmp_path / "copy.db"), env=env, cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        assert "2 subscribers" in made.stdout
        add("after@example.kr", env=env, cwd=tmp_path)
        # The service went on working during and after the copy.
        assert wait_for_http(base + "/healthz", process=serve).status_code == 200
        again = run_cli("backup", str(tmp_path / "copy.db"), env=env, cwd=tmp_path)
        assert again.returncode == 2 and "exists already" in again.stderr
    finally:
        output = stop(serve)
    assert serve.returncode == 0, output
    assert not list(tmp_path.glob(".copy.db*")), "a partial copy was left behind"

    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(tmp_path / "copy.db", restored / "mailer.db")
    env = {**env, "MAILER_DATABASE_URL": f"sqlite:///{restored / 'mailer.db'}"}
    env["MAILER_DATA_DIR"] = str(restored)
    init = run_cli("init", env=env, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert "schema up to date" in init.stdout
    assert subscriber_emails(env, tmp_path) == ["before@example.kr", "during@example.kr"]
    # The copy is tied to its key like the original.
    other = run_cli("init", env={**env, "MAILER_SECRET_KEY": "x" * 40}, cwd=tmp_path)
    assert other.returncode == 2 and "not the key this database" in other.stderr


def test_backup_refuses_postgresql_and_names_pg_dump(tmp_path):
    env = cli_env(
        MAILER_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        MAILER_DATA_DIR=str(tmp_path / "var"),
    )
    result = run_cli("backup", str(tmp_path / "copy.db"), env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "pg_dump" in result.stderr
    assert not (tmp_path / "copy.db").exists()

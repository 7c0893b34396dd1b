"""The command line: help lists every group, errors become one line and exit code 2, init is idempotent."""

from __future__ import annotations

import pytest

from mailer.cli.groups import BUILT, PLANNED
from tests.helpers import cli_env, run_cli


def test_help_lists_every_command_group(tmp_path):
    result = run_cli("--help", env=cli_env(COLUMNS="200"), cwd=tmp_path)
    assert result.returncode == 0
    for name in [*PLANNED, "init", "serve"]:
        assert f" {name} " in result.stdout, name


@pytest.mark.parametrize("name", [name for name in PLANNED if name in BUILT])
def test_every_built_group_loads_when_invoked_and_has_help(tmp_path, name):
    result = run_cli(name, "--help", env=cli_env(COLUMNS="200"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert PLANNED[name] in result.stdout


@pytest.mark.parametrize("name", [name for name in PLANNED if name not in BUILT])
def test_a_group_not_built_yet_says_so_with_exit_code_2(tmp_path, name):
    result = run_cli(name, "list", env=cli_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "not available yet" in result.stderr


def test_bad_configuration_stops_with_one_line_and_exit_code_2(tmp_path):
    env = cli_env(MAILER_SMTP__CONNECTIONS="lots", MAILER_SMTP__PASSWORD="s3cr3t-pass")
    result = run_cli("init", env=env, cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "smtp.connections (MAILER_SMTP__CONNECTIONS)" in lines[0]
    assert "s3cr3t" not in result.stderr + result.stdout


def test_init_twice_on_each_backend(tmp_path, database_url):
    env = cli_env(MAILER_DATABASE_URL=database_url, MAILER_DATA_DIR=str(tmp_path / "var"))
    first = run_cli("init", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = run_cli("init", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "nothing to change" in second.stdout


def test_default_database_is_created_under_var(tmp_path):
    result = run_cli("init", env=cli_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "mailer.db").is_file()
    assert "seeded schedule digest" in result.stdout


def test_header_injection_in_test_mail_recipient_is_refused(tmp_path):
    result = run_cli("test-mail", "a@example.kr\r\nBcc: b@example.kr", env=cli_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid recipient" in result.stderr


@pytest.mark.parametrize(
    "command",
    [("subscribers", "list"), ("serve", "--port", "0"), ("worker", "--until-idle"), ("scheduler",)],
)
def test_every_command_refuses_a_database_set_up_with_another_key(tmp_path, command):
    # A restored database started with the wrong key would mail links that open nothing
    # and forget its suppressions (README "Secret key"): refused before any work.
    env = cli_env(
        MAILER_DATA_DIR=str(tmp_path / "var"), MAILER_SECRET_KEY="first-key-0123456789abc"
    )
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    other = {**env, "MAILER_SECRET_KEY": "other-key-0123456789abcdef"}
    result = run_cli(*command, env=other, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is not the key this database was set up with" in result.stderr
    assert "other-key" not in result.stderr + result.stdout

"""`mailer users …` through the real entry point: links, --password-stdin, list, disable, enable, reset, clear errors."""

from __future__ import annotations

import json
import re

import pytest

from mailer import staff
from mailer.bootstrap import build_context
from mailer.config import load_settings
from mailer.errors import InvalidInputError
from tests.helpers import cli_env, run_cli

LINK = re.compile(r"^http://127\.0\.0\.1:8000/admin/set-password/([A-Za-z0-9_-]{40,})$", re.M)


@pytest.fixture
def cli(tmp_path):
    """Run `mailer users …` on a fresh SQLite database (the store's tests cover PostgreSQL too)."""
    database_url = f"sqlite:///{tmp_path / 'mailer.db'}"
    env = cli_env(
        MAILER_DATABASE_URL=database_url, MAILER_DATA_DIR=str(tmp_path / "var"), COLUMNS="200"
    )
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0

    def run(*args: str, stdin: str | None = None):
        return run_cli("users", *args, env=env, cwd=tmp_path, stdin=stdin)

    context = build_context(load_settings(database_url=database_url, data_dir=tmp_path / "var"))
    yield run, context
    context.close()


def test_add_prints_a_one_time_link_that_sets_the_password(cli):
    run, context = cli
    added = run("add", "Kim@Example.kr", "--role", "admin")
    assert added.returncode == 0, added.stderr
    assert "added admin kim@example.kr" in added.stdout
    assert "(24 h), works once" in added.stdout
    token = LINK.search(added.stdout).group(1)
    assert staff.open_link(context, token).email == "kim@example.kr"
    staff.set_password_with_link(context, token, "시흥 바이오 세미나 2027")
    assert staff.verify_password(context, "kim@example.kr", "시흥 바이오 세미나 2027")


def test_password_stdin_sets_the_password_under_the_policy(cli):
    run, context = cli
    refused = run(
        "add", "lee@example.kr", "--role", "editor", "--password-stdin", stdin="qwertyuiop\n"
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "error: 너무 흔한 비밀번호입니다. 다른 비밀번호를 고르세요 / "
        "this password is among the most common ones: choose another"
    )
    empty = run("add", "lee@example.kr", "--role", "editor", "--password-stdin", stdin="")
    assert empty.returncode == 2 and "read no password" in empty.stderr

    added = run(
        "add",
        "lee@example.kr",
        "--role",
        "editor",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert added.returncode == 0, added.stderr
    assert "set-password" not in added.stdout
    assert staff.verify_password(context, "lee@example.kr", "correct horse battery")
    assert staff.verify_password(context, "lee@example.kr", "correct horse battery\n") is None


def test_list_disable_enable_and_reset(cli):
    run, context = cli
    assert run("list").stdout.strip() == "no staff users (`mailer users add EMAIL --role admin`)"
    run(
        "add",
        "boss@example.kr",
        "--role",
        "admin",
        "--password-stdin",
        stdin="correct horse battery",
    )
    first = LINK.search(run("add", "kim@example.kr", "--role", "editor").stdout).group(1)

    table = run("list")
    assert table.returncode == 0, table.stderr
    rows = {line.split("│")[1].strip(): line for line in table.stdout.splitlines() if "@" in line}
    assert "admin" in rows["boss@example.kr"] and "active" in rows["boss@example.kr"]
    assert "editor" in rows["kim@example.kr"] and "invited" in rows["kim@example.kr"]
    listed = json.loads(run("list", "--json").stdout)
    assert [(u["email"], u["role"], u["state"]) for u in listed] == [
        ("boss@example.kr", "admin", "active"),
        ("kim@example.kr", "editor", "invited"),
    ]
    assert "password_hash" not in listed[0]

    reset = run("reset", "kim@example.kr")
    assert reset.returncode == 0, reset.stderr
    second = LINK.search(reset.stdout).group(1)
    with pytest.raises(InvalidInputError, match="expired or was used"):
        staff.open_link(context, first)
    assert staff.open_link(context, second).email == "kim@example.kr"

    assert run("disable", "kim@example.kr").stdout.strip() == "disabled kim@example.kr"
    with pytest.raises(InvalidInputError, match="expired or was used"):
        staff.open_link(context, second)
    assert json.loads(run("list", "--json").stdout)[1]["state"] == "disabled"
    assert run("enable", "kim@example.kr").stdout.strip() == "enabled kim@example.kr (invited)"


#: (arguments, exit code, the one line on stderr), with boss@example.kr the only admin.
ERRORS = [
    (
        ("add", "kim@example.kr", "--role", "owner"),
        2,
        "error: unknown role 'owner': use admin or editor",
    ),
    (("add", "kim", "--role", "editor"), 2, "error: invalid email address 'kim': "),
    (("disable", "nobody@example.kr"), 1, "error: staff user nobody@example.kr not found"),
    (("reset", "nobody@example.kr"), 1, "error: staff user nobody@example.kr not found"),
    (
        ("disable", "boss@example.kr"),
        2,
        "error: boss@example.kr is the only enabled admin: add another admin before disabling it",
    ),
    (
        ("add", "Boss@example.kr", "--role", "editor"),
        2,
        "error: staff user boss@example.kr exists already",
    ),
]


def test_errors_are_one_line_with_an_exit_code(cli):
    run, _ = cli
    run(
        "add",
        "boss@example.kr",
        "--role",
        "admin",
        "--password-stdin",
        stdin="correct horse battery",
    )
    for args, code, message in ERRORS:
        result = run(*args)
        assert result.returncode == code, (args, result.stderr)
        assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
        assert result.stdout == ""

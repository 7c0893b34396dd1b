"""Every user change is an audit row written with the change: add, disable, enable, reset — from the CLI and for a web admin (issue 12 item 8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from mailer import staff
from mailer.bootstrap import build_context
from mailer.errors import InvalidInputError
from tests.helpers import cli_env, run_cli

NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Caller:
    email: str
    role: str


def user_rows(context) -> list[dict]:
    return list(reversed(staff.recent_audit(context, prefix="user.")))


def test_each_change_by_a_web_admin_is_audited_with_its_account_address_and_states(context):
    admin = Caller("kim@example.kr", "admin")
    web = {"account": admin, "client": "203.0.113.7", "now": NOW}
    staff.add_user(context, "lee@example.kr", role="editor", **web)
    staff.reset_link(context, "lee@example.kr", **web)
    staff.disable_user(context, "lee@example.kr", **web)
    staff.enable_user(context, "lee@example.kr", **web)
    rows = user_rows(context)
    assert [row["action"] for row in rows] == [
        "user.add",
        "user.reset",
        "user.disable",
        "user.enable",
    ]
    assert {(row["actor"], row["client_address"], row["target"]) for row in rows} == {
        ("kim@example.kr", "203.0.113.7", "lee@example.kr")
    }
    assert rows[0]["detail"] == {"after": {"role": "editor", "state": "invited"}}
    assert rows[2]["detail"] == {
        "before": {"role": "editor", "state": "invited"},
        "after": {"role": "editor", "state": "disabled"},
    }
    assert rows[3]["detail"]["after"] == {"role": "editor", "state": "invited"}


def test_an_editor_may_not_change_users_and_nothing_is_written(context):
    editor = Caller("lee@example.kr", "editor")
    with pytest.raises(staff.PermissionDenied):
        staff.add_user(context, "park@example.kr", role="admin", account=editor)
    with pytest.raises(staff.PermissionDenied):
        staff.reset_link(context, "park@example.kr", account=editor)
    assert staff.list_users(context) == []
    assert user_rows(context) == []


def test_a_refused_change_writes_no_audit_row(context):
    staff.add_user(context, "kim@example.kr", role="admin", password="시흥 바이오 세미나 2027")
    with pytest.raises(InvalidInputError):
        staff.disable_user(context, "kim@example.kr")
    with pytest.raises(InvalidInputError):
        staff.add_user(context, "kim@example.kr", role="editor")
    assert [row["action"] for row in user_rows(context)] == ["user.add"]
    assert user_rows(context)[0]["detail"]["after"]["state"] == "active"


def test_the_cli_commands_are_audited_as_cli(make_settings, database_url, tmp_path):
    env = cli_env(MAILER_DATABASE_URL=database_url, MAILER_DATA_DIR=str(tmp_path / "var"))
    for args in (
        ("add", "kim@example.kr", "--role", "admin"),
        ("add", "lee@example.kr", "--role", "editor"),
        ("reset", "lee@example.kr"),
        ("disable", "lee@example.kr"),
        ("enable", "lee@example.kr"),
    ):
        done = run_cli("users", *args, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    context = build_context(make_settings(database_url=database_url))
    try:
        rows = user_rows(context)
    finally:
        context.close()
    assert [(row["action"], row["target"]) for row in rows] == [
        ("user.add", "kim@example.kr"),
        ("user.add", "lee@example.kr"),
        ("user.reset", "lee@example.kr"),
        ("user.disable", "lee@example.kr"),
        ("user.enable", "lee@example.kr"),
    ]
    assert {(row["actor"], row["client_address"]) for row in rows} == {("cli", None)}
    assert rows[0]["detail"]["after"] == {"role": "admin", "state": "invited"}

"""`mailer serve` on a fresh install prints a one-time link that creates the first admin; with an admin it prints none."""

from __future__ import annotations

import re

from mailer import staff
from mailer.bootstrap import build_context
from mailer.config import load_settings
from tests.helpers import cli_env, run_cli, start_serve, stop, wait_for_output

LINK = re.compile(r"^  (http://127\.0\.0\.1:\d+)/admin/set-password/([A-Za-z0-9_-]{40,})$")


def test_serve_prints_a_first_admin_link_until_an_admin_exists(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'mailer.db'}"
    env = cli_env(
        MAILER_DATABASE_URL=database_url,
        MAILER_DATA_DIR=str(tmp_path / "var"),
    )
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0

    process, base, env = start_serve("--no-scheduler", env=env, cwd=tmp_path)
    try:
        link = wait_for_output(process, LINK)
    finally:
        output = stop(process)
    # The link leads to the server that printed it, and says so in Korean first.
    assert link.group(1) == base
    assert "관리자 계정이 아직 없습니다" in output and "No admin account yet" in output
    # Logged lines never carry it (the log redacts tokens; this line is printed on purpose).
    assert output.count(link.group(2)) == 1

    context = build_context(load_settings(database_url=database_url, data_dir=tmp_path / "var"))
    try:
        admin = staff.set_password_with_link(
            context, link.group(2), "시흥 바이오 세미나 2027", email="boss@example.kr"
        )
        assert admin.role == "admin"
    finally:
        context.close()

    process, _, _ = start_serve("--no-scheduler", env=env, cwd=tmp_path)
    output = stop(process)
    assert "Uvicorn running" in output
    assert "/admin/set-password/" not in output and "No admin account yet" not in output

"""`mailer serve` end to end: health check, home page, and mail through the built-in outbox."""

from __future__ import annotations

import mailbox
from email import message_from_bytes
from email.policy import default as default_policy

import httpx
import pytest

from mailer.errors import MailerError
from mailer.mail import start_outbox
from tests.helpers import cli_env, pause_schedules, run_cli, start_serve, stop, wait_for_http


@pytest.fixture
def served(tmp_path, database_url):
    """A running `mailer serve` on ports of its own with the built-in outbox; no feed polls."""
    env = cli_env(MAILER_DATABASE_URL=database_url, MAILER_DATA_DIR=str(tmp_path / "var"))
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    pause_schedules(database_url, "poll")
    process, base, env = start_serve(env=env, cwd=tmp_path)
    wait_for_http(base + "/healthz", process=process)
    yield base, env
    stop(process)


def test_healthz_home_and_outbox_end_to_end(served, tmp_path):
    base, env = served
    health = httpx.get(base + "/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["checks"]["database"] == "ok"

    home = httpx.get(base + "/")
    assert home.status_code == 200
    assert 'href="/subscribe?lang=ko"' in home.text and 'href="/archive?lang=ko"' in home.text
    # The 관리자 link leads to a working log-in page (issue 12 item 9), not to a 404.
    assert 'href="/admin/login?lang=ko">관리자</a>' in home.text
    login = httpx.get(base + "/admin/login?lang=ko")
    assert login.status_code == 200 and "관리자 로그인" in login.text

    sent = run_cli("test-mail", "독자@example.kr", env=env, cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    box = mailbox.Maildir(tmp_path / "var" / "outbox", create=False)
    messages = [message_from_bytes(box.get_bytes(key), policy=default_policy) for key in box.keys()]
    assert len(messages) == 1
    assert messages[0]["Subject"] == "mailer 시험 메일 / test message"
    assert "메일 경로가 동작합니다." in messages[0].get_content()


def test_healthz_reports_an_unmigrated_database_as_503(tmp_path):
    process, base, _ = start_serve(env=cli_env(MAILER_DATA_DIR=str(tmp_path / "var")), cwd=tmp_path)
    try:
        response = wait_for_http(base + "/healthz", process=process)
        assert response.status_code == 503
        assert "mailer init" in response.json()["checks"]["database"]
    finally:
        stop(process)


def test_serve_refuses_a_busy_outbox_port_clearly(tmp_path, database_url):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = cli_env(
            MAILER_DATABASE_URL=database_url,
            MAILER_DATA_DIR=str(tmp_path / "var"),
            MAILER_SMTP__OUTBOX_PORT=str(busy.getsockname()[1]),
        )
        result = run_cli("serve", "--port", "0", env=env, cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert "outbox cannot listen" in result.stderr


async def test_starting_the_outbox_tolerates_only_a_running_one(tmp_path):
    """`mailer digest send` reuses `mailer serve`'s outbox on a taken port; nothing else is ignored."""
    running = await start_outbox(tmp_path / "outbox", port=0, reuse_running=False)
    assert running is not None
    try:
        assert (
            await start_outbox(tmp_path / "outbox", port=running.port, reuse_running=True) is None
        )
        with pytest.raises(MailerError, match="outbox cannot listen on 127.0.0.1"):
            await start_outbox(tmp_path / "outbox", port=running.port, reuse_running=False)
    finally:
        await running.stop()
    # A folder that cannot be made is an error even for a caller happy to reuse a running one.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the Maildir should be")
    with pytest.raises(MailerError, match="not-a-folder"):
        await start_outbox(blocker, port=0, reuse_running=True)

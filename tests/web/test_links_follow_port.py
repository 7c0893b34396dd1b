"""Links in mail lead to where `mailer serve` listens (issue 15 item 1), tried against real processes.

With no ``base_url`` configured, every process derives it from ``MAILER_HOST`` and
``MAILER_PORT``: the server's confirmation mail and a separate command's preview both
point at the port the server listens on. A ``base_url`` that differs is warned about
once at start-up in development, and production refuses to run without one.
"""

from __future__ import annotations

import re
import socket
import subprocess

import httpx
import pytest

from mailer.config import load_settings
from mailer.errors import ConfigError
from mailer.public_url import listen_address_warnings, listen_url, reaches, serving_at
from tests.helpers import (
    cli_env,
    run_cli,
    served_base,
    start_cli,
    stop,
    wait_for,
    wait_for_http,
)
from tests.web.serve_support import served, sign_up

LINK = re.compile(r"https?://[^\s<>\"]+/confirm/[A-Za-z0-9_-]+")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_on_configured_port(env: dict[str, str], cwd) -> tuple[subprocess.Popen, int]:
    """`mailer serve` with MAILER_PORT set (no --port), on a port that was free a moment ago."""
    for _attempt in range(5):
        port = _free_port()
        process = start_cli(
            "serve", "--no-scheduler", env={**env, "MAILER_PORT": str(port)}, cwd=cwd
        )
        try:
            base = served_base(process)
        except AssertionError:
            output = stop(process)
            if "cannot listen" in output:
                continue  # somebody took the port meanwhile: try another
            raise
        assert base == f"http://127.0.0.1:{port}"
        return process, port
    raise AssertionError("no free port for mailer serve")


def test_mail_links_follow_mailer_port_in_serve_and_in_other_commands(tmp_path, smtp_server):
    env = cli_env(
        MAILER_DATABASE_URL=f"sqlite:///{tmp_path / 'mailer.db'}",
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_DELIVERY__POLL_SECONDS="0.2",
        MAILER_LOG_LEVEL="info",
        MAILER_SMTP__HOST=smtp_server.host,
        MAILER_SMTP__PORT=str(smtp_server.port),
    )
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    process, port = _serve_on_configured_port(env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base + "/healthz", process=process)
        with httpx.Client(base_url=base, timeout=10) as http:
            assert sign_up(http, "reader@example.kr").status_code in (200, 303)

        def confirmation_link():
            for mail in smtp_server.messages:
                if mail.rcpt_tos == ["reader@example.kr"]:
                    found = LINK.search(mail.message.get_body(("plain",)).get_content())
                    if found:
                        return found.group(0)
            return None

        link = wait_for(confirmation_link, timeout=30, what="the confirmation mail")
        # The link leads to this very server, and opens its confirmation page.
        assert link.startswith(f"{base}/confirm/"), link
        page = httpx.get(link, timeout=10)
        assert page.status_code == 200 and "구독 확인" in page.text

        # A command that does not listen derives the same links from the same settings.
        preview = run_cli(
            "digest", "preview", "-f", "text", env={**env, "MAILER_PORT": str(port)}, cwd=tmp_path
        )
        assert preview.returncode == 0, preview.stderr
        assert f"{base}/archive/" in preview.stdout
        assert ":8000" not in preview.stdout
    finally:
        output = stop(process)
    assert f"links in mail point at {base}" in output


def test_a_base_url_elsewhere_is_warned_about_once_in_development(tmp_path):
    with served(tmp_path, MAILER_BASE_URL="http://127.0.0.1:8000") as service:
        assert httpx.get(service.base + "/healthz").status_code == 200
        output = service.stop()
    warning = "base_url http://127.0.0.1:8000 (MAILER_BASE_URL) is not where this server listens"
    assert output.count(warning) == 1, output
    assert f"({service.base})" in output


def test_a_base_url_that_reaches_the_server_is_not_warned_about(tmp_path):
    with served(tmp_path) as service:
        port = service.base.rsplit(":", 1)[1]
        base_url = f"http://localhost:{port}"
    # The port is known only once the first server ran; the second asks for that one.
    with served(tmp_path, "--port", port, MAILER_BASE_URL=base_url) as again:
        output = again.stop()
    assert "is not where this server listens" not in output
    assert f"links in mail point at {base_url}" in output


def test_the_settings_derive_and_follow_the_listen_address():
    settings = load_settings(port=9000)
    assert settings.base_url == "http://127.0.0.1:9000" and settings.base_url_derived
    moved = serving_at(settings, "::1", 9100)
    assert moved.base_url == "http://[::1]:9100"
    assert settings.base_url == "http://127.0.0.1:9000"  # the original is unchanged
    configured = load_settings(base_url="https://news.example.kr/", port=9000)
    assert configured.base_url == "https://news.example.kr" and not configured.base_url_derived
    assert serving_at(configured, "127.0.0.1", 9100).base_url == "https://news.example.kr"


def test_serve_on_every_address_or_on_a_command_line_port_says_where_links_go():
    settings = load_settings()
    assert listen_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"
    (alone,) = listen_address_warnings(settings, host="0.0.0.0", port=9000, other_processes=False)
    assert "opens on this machine only" in alone and "MAILER_BASE_URL" in alone
    # serve --port 9000 --no-worker: a separate worker derives :8000 from MAILER_PORT.
    (split,) = listen_address_warnings(settings, host="127.0.0.1", port=9000, other_processes=True)
    assert "http://127.0.0.1:8000" in split and "MAILER_PORT" in split
    assert (
        listen_address_warnings(settings, host="127.0.0.1", port=9000, other_processes=False) == []
    )


@pytest.mark.parametrize(
    ("base_url", "host", "port", "expected"),
    [
        ("http://localhost:8000", "127.0.0.1", 8000, True),
        ("http://[::1]:8000", "localhost", 8000, True),
        ("http://192.168.0.5:8000", "0.0.0.0", 8000, True),
        ("http://127.0.0.1:8000", "127.0.0.1", 9000, False),
        ("http://127.0.0.1", "127.0.0.1", 80, True),
        ("https://news.example.kr", "127.0.0.1", 443, False),
        ("http://news.example.kr:8000", "127.0.0.1", 8000, False),
    ],
)
def test_which_base_urls_reach_a_listen_address(base_url, host, port, expected):
    assert reaches(base_url, host=host, port=port) is expected


def test_production_refuses_to_run_without_a_base_url(monkeypatch):
    monkeypatch.setenv("MAILER_ENV", "production")
    monkeypatch.setenv("MAILER_SECRET_KEY", "a" * 40)
    monkeypatch.setenv("MAILER_SMTP__HOST", "relay.example.kr")
    with pytest.raises(
        ConfigError, match=r"base_url must be set in production \(MAILER_BASE_URL\)"
    ):
        load_settings()
    monkeypatch.setenv("MAILER_BASE_URL", "https://news.example.kr")
    assert load_settings().base_url == "https://news.example.kr"

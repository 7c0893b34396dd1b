"""The development outbox is not an open window (issue 11 item 6), tried against real `mailer serve` processes."""

from __future__ import annotations

import httpx

from tests.helpers import cli_env, run_cli
from tests.web.serve_support import served


def test_serve_on_all_interfaces_has_no_outbox_page(tmp_path):
    with served(tmp_path, "--host", "0.0.0.0") as service:
        assert httpx.get(service.base + "/healthz").status_code == 200
        assert httpx.get(service.base + "/outbox").status_code == 404
        assert httpx.get(service.base + "/outbox/anything").status_code == 404


def test_serve_on_loopback_keeps_the_outbox_page_for_development(tmp_path):
    with served(tmp_path) as service:
        assert httpx.get(service.base + "/outbox").status_code == 200


def test_production_without_a_relay_refuses_to_start_with_one_line(tmp_path):
    env = cli_env(
        MAILER_ENV="production",
        MAILER_SECRET_KEY="a-long-production-secret-key-0123456789",
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_DATABASE_URL=f"sqlite:///{tmp_path / 'mailer.db'}",
    )
    result = run_cli("serve", "--port", "0", env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "smtp.host must name the SMTP relay in production (MAILER_SMTP__HOST)" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert "a-long-production-secret" not in result.stderr + result.stdout

"""Logs carry no tokens and no addresses (issue 11 item 7), over a real `mailer serve`, and the filter itself."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import textwrap
from urllib.parse import quote

import pytest

from mailer.bootstrap import build_context
from mailer.keys import IdentityKeys, new_access_token
from mailer.logs import redact
from mailer.web.app import create_app
from tests.helpers import cli_env
from tests.web.serve_support import confirmation_path, get_routes, hidden, served, sign_up

READER = "log.reader+news@example.kr"
TOKEN_LINK = re.compile(r"/(?:confirm|unsubscribe|preferences)/([A-Za-z0-9_-]{8,})")


def test_a_whole_journey_leaves_no_token_and_no_address_in_the_logs(tmp_path, smtp_server):
    with served(tmp_path, relay=smtp_server) as service, service.client() as http:
        # The embeddable snippet's prefill puts the address into a query string.
        assert http.get("/subscribe", params={"email": READER, "lang": "ko"}).status_code == 200
        assert sign_up(http, READER).status_code == 200
        confirm = confirmation_path(smtp_server, READER)
        page = http.get(confirm)
        welcome = http.post(confirm, data={"csrf_token": hidden(page.text, "csrf_token")})
        assert welcome.status_code == 200
        preferences = re.search(r'href="(/preferences/[^"?]+)', welcome.text).group(1)
        assert http.get(preferences).status_code == 200
        token = preferences.rsplit("/", 1)[1]
        assert http.get(f"/unsubscribe/{token}").status_code == 200
        left = http.post(
            f"/unsubscribe/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert left.status_code == 200
        assert http.get(f"/confirm/{confirm.rsplit('/', 1)[1]}?token={token}").status_code < 500
        logs = service.stop()

    secrets = {confirm.rsplit("/", 1)[1], token}
    for mail in smtp_server.messages:
        for part in mail.message.walk():
            if part.get_content_maintype() == "text":
                secrets.update(TOKEN_LINK.findall(part.get_content()))
    leaked = sorted(secret for secret in secrets if secret in logs)
    assert leaked == [], f"tokens in the log:\n{logs}"
    for address in (READER, quote(READER, safe=""), quote(READER)):
        assert address not in logs, f"the address in the log:\n{logs}"
    # The requests are still there, their secrets replaced.
    for path in ("/confirm/[token]", "/preferences/[token]", "/unsubscribe/[token]"):
        assert f"{path} " in logs or f"{path}?" in logs, f"no {path} in the log:\n{logs}"
    assert "/subscribe?email=[redacted]&lang=ko" in logs


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"GET /confirm/AbC-12_x HTTP/1.1" 200', '"GET /confirm/[token] HTTP/1.1" 200'),
        ("POST /unsubscribe/Zq9-_aaa", "POST /unsubscribe/[token]"),
        (
            '"POST /admin/set-password/Zq9-_aaa?lang=en HTTP/1.1" 303',
            '"POST /admin/set-password/[token]?lang=en HTTP/1.1" 303',
        ),
        ("/admin/login?next=%2Fadmin", "/admin/login?next=[redacted]"),
        ("/preferences/Zq9-_aaa/data.json", "/preferences/[token]/data.json"),
        ("/preferences/Zq9-_aaa?lang=ko&done=saved", "/preferences/[token]?lang=ko&done=saved"),
        ("/subscribe?email=a%40b.kr&name=%ED%99%8D", "/subscribe?email=[redacted]&name=[redacted]"),
        ("mail to 독자@example.kr failed", "mail to [email] failed"),
        ("<Reader.Name+tag@Sub.Example.co.kr>", "<[email]>"),
        ("secret kQ3vZ8xT1mN5bR7cW2yL9pD4fG6hJ0sA in text", "secret [token] in text"),
        ("/archive/12 and /seminar/s1.ics", "/archive/12 and /seminar/s1.ics"),
        ("Uvicorn running on http://127.0.0.1:8000", "Uvicorn running on http://127.0.0.1:8000"),
    ],
)
def test_redact(line, expected):
    assert redact(line) == expected


def test_every_handler_of_a_configured_process_redacts_messages_arguments_and_tracebacks():
    script = textwrap.dedent(
        """
        import logging
        from mailer.logs import configure_logging

        configure_logging("info")
        logging.getLogger("mailer.delivery").warning("refused %s", "who@example.kr")
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/confirm/Tok3n-abc", "1.1", 200
        )
        try:
            raise ValueError("recipient who@example.kr refused at /unsubscribe/Tok3n-abc")
        except ValueError:
            logging.getLogger("mailer.delivery.retry").exception("unexpected error")
        logging.getLogger("aiosmtpd").info("RCPT TO:<who@example.kr>")
        logging.getLogger("some.library").warning("token %s", "kQ3vZ8xT1mN5bR7cW2yL9pD4fG6hJ0sA")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "who@example.kr" not in output and "Tok3n-abc" not in output
    assert "kQ3vZ8xT1mN5bR7cW2yL9pD4fG6hJ0sA" not in output
    assert "refused [email]" in output and "/confirm/[token]" in output
    assert "ValueError: recipient [email] refused at /unsubscribe/[token]" in output


def test_every_token_route_of_the_app_is_redacted(make_settings, tmp_path):
    """A new route with a ``{token}`` parameter fails here until mailer.logs.TOKEN_ROUTES knows it."""
    context = build_context(make_settings(database_url=f"sqlite:///{tmp_path / 'm.db'}"))
    try:
        routes = get_routes(create_app(context, worker=False, listen_host="127.0.0.1"))
    finally:
        context.close()
    token = "Sample-token_0123"
    token_routes = [path for path, _ in routes if "token}" in path]
    assert "/unsubscribe/{token}" in token_routes
    for path in token_routes:
        sample = re.sub(r"\{(\w+)\}", lambda m: token if "token" in m[1] else "x", path)
        assert token not in redact(f'"GET {sample} HTTP/1.1" 200'), path


def test_one_shot_commands_log_through_the_redacting_handler_too(tmp_path):
    """`digest send --wait`, `feeds poll` … run the worker's and the poller's code outside
    serve/worker/scheduler: their warnings must not reach Python's unfiltered last resort."""
    script = textwrap.dedent(
        """
        import logging
        import sys
        from mailer.cli.main import app

        try:
            app(["feeds", "list"], standalone_mode=False)
        finally:
            logging.getLogger("mailer.delivery.retry").error(
                "unexpected error sending mail 7: 550 <who@example.kr> refused"
            )
        """
    )
    env = cli_env(
        MAILER_DATABASE_URL=f"sqlite:///{tmp_path / 'mailer.db'}",
        MAILER_DATA_DIR=str(tmp_path / "var"),
    )
    subprocess.run(
        [sys.executable, "-m", "mailer", "init"], env=env, capture_output=True, check=True
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "who@example.kr" not in result.stderr
    assert "550 <[email]> refused" in result.stderr


def test_every_link_and_access_token_is_redacted_wherever_it_appears():
    """Outside a token path too: tokens are random, so one without a digit is no rarity."""
    keys = IdentityKeys("redaction-test-secret")
    chooser = random.Random(11)
    tokens = [keys.link_token(f"seed-{chooser.random()}") for _ in range(5000)]
    tokens += [new_access_token() for _ in range(500)]
    leaked = [token for token in tokens if token in redact(f"retrying with {token}, later")]
    assert leaked == []
    # Words and names stay readable.
    line = "WriteOutsideWriteTransaction in deliver_notices_for_the_edition_now"
    assert redact(line) == line

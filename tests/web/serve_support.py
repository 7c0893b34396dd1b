"""A real `mailer serve` subprocess on a fresh SQLite database, and the signup steps a visitor takes over HTTP."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select

from mailer.store.tables import consent_events
from tests.helpers import cli_env, run_cli, start_serve, stop, wait_for, wait_for_http


class Served:
    """A running `mailer serve`: its base URL, its database, and (after ``stop``) all it logged."""

    def __init__(self, process: subprocess.Popen, base: str, database_url: str) -> None:
        self.process = process
        self.base = base
        self.database_url = database_url
        self.output = ""

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=10, follow_redirects=False)

    def ledger(self) -> list[dict]:
        """Every consent-ledger entry, oldest first."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                query = select(consent_events).order_by(consent_events.c.id)
                return [dict(row) for row in conn.execute(query).mappings()]
        finally:
            engine.dispose()

    def stop(self) -> str:
        self.output = stop(self.process)
        return self.output


@contextmanager
def served(tmp_path: Path, *args: str, relay=None, **settings: str) -> Iterator[Served]:
    """`mailer init` then `mailer serve --no-scheduler ARGS…` with ``MAILER_*`` ``settings``.

    ``relay`` (the ``smtp_server`` fixture) receives the mail; without it the built-in
    outbox does.
    """
    database_url = f"sqlite:///{tmp_path / 'mailer.db'}"
    env = cli_env(
        MAILER_DATABASE_URL=database_url,
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_DELIVERY__POLL_SECONDS="0.2",
        **settings,
    )
    if relay is not None:
        env.update(MAILER_SMTP__HOST=relay.host, MAILER_SMTP__PORT=str(relay.port))
    initialised = run_cli("init", env=env, cwd=tmp_path)
    assert initialised.returncode == 0, initialised.stderr
    process, base, _ = start_serve("--no-scheduler", *args, env=env, cwd=tmp_path)
    service = Served(process, base.replace("0.0.0.0", "127.0.0.1"), database_url)
    try:
        wait_for_http(service.base + "/healthz", process=process)
        yield service
    finally:
        if not service.output:
            service.stop()


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def sign_up(http: httpx.Client, email: str, *, headers: dict[str, str] | None = None):
    """Fill in and send the signup form as a browser would (CSRF cookie and token, consent)."""
    page = http.get("/subscribe")
    assert page.status_code == 200
    data = {
        "csrf_token": hidden(page.text, "csrf_token"),
        "consent_version": hidden(page.text, "consent_version"),
        "lang": "ko",
        "consent": "yes",
        "email": email,
        "website": "",
    }
    return http.post("/subscribe", data=data, headers=headers or {}, follow_redirects=True)


def confirmation_path(relay, address: str) -> str:
    """The /confirm/{token} path of the confirmation mail ``relay`` received for ``address``."""

    def find():
        for mail in relay.messages:
            if mail.rcpt_tos == [address] and "/confirm/" in mail.data.decode("ascii", "replace"):
                text = mail.message.get_body(("plain",)).get_content()
                return re.search(r"https?://[^/\s]+(/confirm/[A-Za-z0-9_-]+)", text).group(1)
        return None

    return wait_for(find, timeout=30, what=f"the confirmation mail to {address}")


def get_routes(app) -> list[tuple[str, set[str]]]:
    """(path format, methods) of every route the app answers, included routers' too."""
    from fastapi.routing import iter_route_contexts

    return [
        (route.path_format, set(route.methods or ()))
        for route in iter_route_contexts(app.routes)
        if route.path_format
    ]

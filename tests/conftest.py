"""Shared fixtures: real servers (SMTP, HTTP) and a migrated database on SQLite and PostgreSQL.

The PostgreSQL cases run whenever MAILER_TEST_POSTGRES_URL is set (``.ci/run`` always
sets it); each test gets its own database cloned from a migrated template, so tests
cannot see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mailer.bootstrap import build_context
from mailer.config import Settings, load_settings
from mailer.context import AppContext
from mailer.store import db
from tests.helpers import TEST_SECRET
from tests.support.browser import *  # noqa: F403 — browser, page, site (Chromium)
from tests.support.fixtures import *  # noqa: F403 — smtp_server, feed_server
from tests.support.network import *  # noqa: F403 — stay_offline: no connection beyond loopback

POSTGRES_URL = os.environ.get("MAILER_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own MAILER_* variables must not leak into tests."""
    for name in list(os.environ):
        if name.startswith("MAILER_") and not name.startswith("MAILER_TEST_"):
            monkeypatch.delenv(name)


def _admin_engine():
    url = make_url(db.normalise_url(POSTGRES_URL))
    return create_engine(url, isolation_level="AUTOCOMMIT"), url


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database that per-test databases are cloned from."""
    if not POSTGRES_URL:
        pytest.skip("MAILER_TEST_POSTGRES_URL is not set (.ci/run sets it)")
    admin, base = _admin_engine()
    name = f"mailer_tmpl_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = db.make_engine(base.set(database=name).render_as_string(hide_password=False))
    db.upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty, migrated database; the test runs once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'mailer.db'}"
        engine = db.make_engine(url)
        db.upgrade(engine)
        engine.dispose()
        yield url
        return
    template = request.getfixturevalue("postgres_template")
    admin, base = _admin_engine()
    name = f"mailer_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a database with no schema at all (for migration tests); once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("MAILER_TEST_POSTGRES_URL is not set (.ci/run sets it)")
    admin, base = _admin_engine()
    name = f"mailer_e_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def make_settings(tmp_path: Path):
    """Build Settings for a test: data in tmp_path, overrides as keyword arguments."""

    def build(**overrides) -> Settings:
        overrides.setdefault("data_dir", tmp_path / "var")
        overrides.setdefault("secret_key", TEST_SECRET)
        return load_settings(**overrides)

    return build


@pytest.fixture
def settings(make_settings, database_url: str, smtp_server) -> Settings:
    """Settings on the parametrised database, sending to the test SMTP server."""
    return make_settings(
        database_url=database_url,
        smtp={"host": smtp_server.host, "port": smtp_server.port, "connections": 2},
        feeds={"allow_private": True, "timeout": 5},
    )


@pytest.fixture
def context(settings: Settings) -> Iterator[AppContext]:
    """An AppContext on a migrated database (SQLite and PostgreSQL)."""
    ctx = build_context(settings)
    yield ctx
    ctx.close()

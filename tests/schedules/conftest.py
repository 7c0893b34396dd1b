"""Fixtures of the scheduler tests: a context whose scheduler reloads and beats quickly."""

from __future__ import annotations

import pytest

from mailer.bootstrap import build_context


@pytest.fixture
def ctx(make_settings, database_url):
    settings = make_settings(
        database_url=database_url,
        scheduler={"reload_seconds": 0.05, "heartbeat_seconds": 0.05, "stop_timeout": 5},
    )
    context = build_context(settings)
    yield context
    context.close()

"""Fixtures of the poll step's tests."""

from __future__ import annotations

import pytest

from mailer.bootstrap import build_context


@pytest.fixture
def make_context(make_settings, database_url):
    """Contexts on the parametrised database with feed settings for the test."""
    made = []

    def build(**feeds):
        # At most 4 fetches at once: the test feed server listens with a backlog of 5,
        # and a connection beyond it waits for a TCP retransmission (1 s).
        options = {
            "allow_private": True,
            "timeout": 1,
            "concurrency": 4,
            "parse_processes": 2,
            **feeds,
        }
        ctx = build_context(make_settings(database_url=database_url, feeds=options))
        made.append(ctx)
        return ctx

    yield build
    for ctx in made:
        ctx.close()

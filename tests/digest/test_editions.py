"""Reading editions already made: the archive lists sent ones only; any one by its number."""

from __future__ import annotations

from datetime import timedelta

from mailer.digest import create_edition, edition_by_number, sent_editions
from mailer.store.db import write_transaction
from tests.digest_data import MONDAY, add_story, mark_sent


def test_sent_editions_and_an_edition_by_number(make_settings, database_url):
    from mailer.bootstrap import build_context

    context = build_context(make_settings(database_url=database_url))
    try:
        with write_transaction(context.engine) as conn:
            add_story(conn, "a", title="바이오 소식")
        first = create_edition(context, schedule="digest", scheduled_for=MONDAY, now=MONDAY)
        later = MONDAY + timedelta(days=7)
        second = create_edition(context, schedule="digest", scheduled_for=later, now=later)
        with write_transaction(context.engine) as conn:
            mark_sent(conn, first.id)
        assert [(e.number, e.subject) for e in sent_editions(context)] == [(1, first.subject)]
        assert edition_by_number(context, 2).id == second.id
        assert edition_by_number(context, 3) is None
    finally:
        context.close()

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
        # The second week's only story is too old by then: skipped, so no number 2.
        assert second.number is None
        assert edition_by_number(context, 2) is None
    finally:
        context.close()


def test_skipped_editions_take_no_number_so_numbers_run_without_gaps(make_settings, database_url):
    """Issue 15 item 3, on both backends (several skipped editions: several NULL numbers)."""
    from mailer.bootstrap import build_context
    from mailer.models import EditionState

    context = build_context(make_settings(database_url=database_url))
    weeks = [MONDAY + timedelta(days=7 * n) for n in range(4)]
    try:
        made = []
        for week, news in zip(weeks, [None, "첫 소식", None, "둘째 소식"], strict=True):
            if news:
                with write_transaction(context.engine) as conn:
                    add_story(conn, news, title=f"바이오 {news}", now=week)
            edition = create_edition(context, schedule="digest", scheduled_for=week, now=week)
            if edition.state is not EditionState.SKIPPED:
                with write_transaction(context.engine) as conn:
                    mark_sent(conn, edition.id, at=week)
            made.append(edition)
        assert [edition.number for edition in made] == [None, 1, None, 2]
        for skipped in (made[0], made[2]):
            assert skipped.state is EditionState.SKIPPED and skipped.reason
            assert (skipped.subject, skipped.html, skipped.text) == ("", "", "")
        assert "제1호" in made[1].subject and "제2호" in made[3].subject
        assert edition_by_number(context, 1).id == made[1].id
        assert [e.number for e in sent_editions(context)] == [2, 1]
        # Made again (a retry), a skipped edition is the same record, still unnumbered.
        assert (
            create_edition(context, schedule="digest", scheduled_for=weeks[0], now=weeks[0])
            == made[0]
        )
    finally:
        context.close()

"""Migration 0009 on a database with editions (SQLite and PostgreSQL): skipped ones lose their number.

Issue 15 item 3. A database at revision 0008 holds what the old code made on a fresh
install: edition 1 skipped (no news yet), edition 2 sent, edition 3 skipped, edition 4
a draft. After ``mailer init`` the skipped editions have no number and no parts, the
numbers printed in mail already delivered stay (every "웹에서 보기" link still opens),
the next edition continues after the highest, and downgrading gives every edition a
number again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import insert, select

from mailer.bootstrap import build_context
from mailer.digest import edition_by_number, public_edition_html
from mailer.seed import initialise
from mailer.store import db
from mailer.store.db import write_transaction
from mailer.store.tables import editions
from tests.digest_data import skipped_week_then_news

MONDAY = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)

#: (number, state) as the old code stored them, a week apart.
OLD_EDITIONS = [(1, "skipped"), (2, "sent"), (3, "skipped"), (4, "draft")]


def database_at_0008(url: str) -> None:
    engine = db.make_engine(url)
    db.upgrade(engine, to="0008")
    with write_transaction(engine) as conn:
        for week, (number, state) in enumerate(OLD_EDITIONS):
            conn.execute(
                insert(editions).values(
                    number=number,
                    schedule="digest",
                    scheduled_for=MONDAY + timedelta(days=7 * week),
                    state=state,
                    subject=f"시흥 바이오산업 주간 뉴스 제{number}호 · 소식",
                    html=f"<p>제{number}호</p>",
                    text=f"제{number}호",
                    stories=[],
                    reason="새 소식 없음" if state == "skipped" else None,
                    created_at=MONDAY + timedelta(days=7 * week),
                )
            )
    engine.dispose()


def numbers(engine) -> list[tuple[str, int | None, str]]:
    with engine.connect() as conn:
        query = select(editions.c.state, editions.c.number, editions.c.subject)
        return [tuple(row) for row in conn.execute(query.order_by(editions.c.id))]


def test_skipped_editions_lose_their_number_and_published_numbers_stay(
    empty_database_url, make_settings
):
    database_at_0008(empty_database_url)
    ctx = build_context(make_settings(database_url=empty_database_url))
    try:
        report = initialise(ctx)
        assert (report.revision_before, report.revision_after) == ("0008", db.head_revision())
        assert numbers(ctx.engine) == [
            ("skipped", None, ""),
            ("sent", 2, "시흥 바이오산업 주간 뉴스 제2호 · 소식"),
            ("skipped", None, ""),
            ("draft", 4, "시흥 바이오산업 주간 뉴스 제4호 · 소식"),
        ]
        # The mail already delivered links to /archive/2: it still opens.
        assert public_edition_html(ctx, 2) == "<p>제2호</p>"
        assert edition_by_number(ctx, 1) is None and edition_by_number(ctx, 3) is None

        # New editions: a skip takes no number, the next sent one continues after 4.
        week = MONDAY + timedelta(days=7 * len(OLD_EDITIONS))
        _skipped, made, _later = skipped_week_then_news(ctx, week, title="바이오 소식")
        assert made.number == 5 and "제5호" in made.subject

        # Back to 0008, which wants a number on every edition: the unnumbered ones
        # get numbers after the highest, in the order they were made.
        command.downgrade(db.alembic_config(ctx.engine), "0008")
        assert [number for _state, number, _subject in numbers(ctx.engine)] == [6, 2, 7, 4, 8, 5]
        command.upgrade(db.alembic_config(ctx.engine), "head")
        assert [number for _state, number, _subject in numbers(ctx.engine)] == [
            None,
            2,
            None,
            4,
            None,
            5,
        ]
    finally:
        ctx.close()

"""CSV import use case on SQLite and PostgreSQL: concurrent signups, rows the database refuses, local dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailer import subscribers as subscriptions
from mailer.seed import initialise
from mailer.store.db import write_transaction
from mailer.store.tables import subscribers
from mailer.subscribers.importing import import_rows
from tests.support.races import writer_racing_insert

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def ctx(context):
    initialise(context)
    return context


def csv_rows(*emails: str, **columns: str):
    return [(line, {"email": email, **columns}) for line, email in enumerate(emails, start=2)]


def by_email(ctx) -> dict[str, dict]:
    with ctx.engine.connect() as conn:
        return {r["email"]: dict(r) for r in conn.execute(select(subscribers)).mappings()}


def test_a_signup_racing_an_import_does_not_abort_it(ctx):
    version = subscriptions.current_consent_text(ctx).version

    def signup():
        return subscriptions.signup(
            ctx, "b@example.kr", consented=True, consent_version=version, now=T0
        )

    rows = csv_rows("a@example.kr", "b@example.kr", "c@example.kr")
    with writer_racing_insert(ctx.engine, "subscribers", signup):
        report = import_rows(ctx, rows, confirmed=True, source="csv", now=T0)
    stored = by_email(ctx)
    assert set(stored) == {"a@example.kr", "b@example.kr", "c@example.kr"}
    assert stored["a@example.kr"]["status"] == stored["c@example.kr"]["status"] == "active"
    assert report.invalid == []
    if ctx.engine.dialect.name == "postgresql":
        # The signup committed first: its row is left as the signup made it.
        assert report.imported == 2 and report.duplicates == [3]
        assert stored["b@example.kr"]["status"] == "pending"
        assert stored["b@example.kr"]["source"] == "web"
    else:
        # SQLite has one writer: the signup waited for the import and found it done.
        assert report.imported == 3 and report.duplicates == []


_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON subscribers "
        "WHEN NEW.email = 'poison@example.kr' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned row refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.email = 'poison@example.kr' THEN RAISE EXCEPTION 'poisoned row refused'; "
        "END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON subscribers "
        "FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
    ],
}


def test_a_row_the_database_refuses_is_reported_and_the_rest_imported(ctx):
    with write_transaction(ctx.engine) as conn:
        for statement in _REFUSE[ctx.engine.dialect.name]:
            conn.exec_driver_sql(statement)
    rows = csv_rows("a@example.kr", "poison@example.kr", "c@example.kr")
    report = import_rows(ctx, rows, confirmed=False, source="csv", now=T0)
    assert report.imported == 2 and report.confirmations_queued == 2
    [(line, reason)] = report.invalid
    assert line == 3 and "poisoned row refused" in reason
    assert set(by_email(ctx)) == {"a@example.kr", "c@example.kr"}


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        # No zone: the organisation's local time (settings.timezone = Asia/Seoul, UTC+9).
        ("2025-11-20T09:30:00", datetime(2025, 11, 20, 0, 30, tzinfo=UTC)),
        ("2025-11-20", datetime(2025, 11, 19, 15, 0, tzinfo=UTC)),
        # An explicit zone is kept.
        ("2025-11-20T09:30:00+00:00", datetime(2025, 11, 20, 9, 30, tzinfo=UTC)),
    ],
)
def test_consent_dates_without_a_zone_are_read_in_the_configured_zone(ctx, written, stored):
    assert ctx.settings.timezone == "Asia/Seoul"
    rows = csv_rows("a@example.kr", consented_at=written)
    report = import_rows(ctx, rows, confirmed=True, source="seminar", now=T0)
    assert report.imported == 1
    row = by_email(ctx)["a@example.kr"]
    assert row["consented_at"] == stored
    assert row["reconfirm_due_at"] > stored

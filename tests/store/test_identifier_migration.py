"""Migration 0008 on a database with data (SQLite and PostgreSQL): suppressions stay in force, old links work.

A database is built at revision 0007 with subscribers holding plain tokens, SHA-256
suppression entries and ledger rows, an edition with deliveries; then ``mailer init``
(``seed.initialise``) upgrades it, and the outcomes are checked through the use cases:
a send skips every suppressed address, an import refuses them, the token in an old
mail still unsubscribes, nothing stored is a plain SHA-256 of an address any more.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, func, inspect, select

from mailer import delivery as send
from mailer import subscribers as subscriptions
from mailer.bootstrap import build_context, require_database
from mailer.errors import ConfigError, StoreError
from mailer.seed import initialise
from mailer.store import db
from mailer.store.db import write_transaction
from mailer.store.tables import (
    UtcDateTime,
    consent_events,
    deliveries,
    installation,
    link_tokens,
    subscribers,
    suppressions,
)
from tests.delivery_data import add_edition, message_id
from tests.helpers import TEST_KEYS

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

#: The subscribers table as revision 0007 has it (a plain ``token`` column).
OLD = MetaData()
subscribers_0007 = Table(
    "subscribers",
    OLD,
    Column("id", Integer, primary_key=True),
    Column("email", String(320)),
    Column("name", String(200)),
    Column("status", String(20)),
    Column("token", String(64)),
    Column("attributes", JSON),
    Column("source", String(100)),
    Column("created_at", UtcDateTime()),
    Column("consented_at", UtcDateTime()),
)

#: (address, status, plain token in mail already sent)
READERS = [
    ("reader@example.kr", "active", "OldTokenOfTheReader0123456789abc"),
    ("bounced@example.kr", "active", "OldTokenOfTheBounced0123456789ab"),
    ("leaver@example.kr", "unsubscribed", "OldTokenOfTheLeaver0123456789abc"),
]
#: Suppressed at 0007 as plain SHA-256: one erased (no row any more), one bounced whose row
#: is still active (the bounce came in on another path), one unsubscribed.
SUPPRESSED = {
    "erased@example.kr": "erased",
    "bounced@example.kr": "bounced",
    "leaver@example.kr": "unsubscribed",
}


def sha256(address: str) -> str:
    return hashlib.sha256(address.encode()).hexdigest()


def database_at_0007(url: str) -> int:
    """Build the old database with data; returns the id of a draft edition."""
    engine = db.make_engine(url)
    db.upgrade(engine, to="0007")
    with write_transaction(engine) as conn:
        for address, status, token in READERS:
            conn.execute(
                subscribers_0007.insert().values(
                    email=address,
                    name="독자",
                    status=status,
                    token=token,
                    attributes={},
                    source="web",
                    created_at=NOW,
                    consented_at=NOW,
                )
            )
        for address, reason in SUPPRESSED.items():
            conn.execute(
                suppressions.insert().values(email_hash=sha256(address), reason=reason, at=NOW)
            )
        for address in ("reader@example.kr", "erased@example.kr"):
            conn.execute(
                consent_events.insert().values(
                    email_hash=sha256(address), kind="consent", at=NOW, detail={}
                )
            )
    edition_id = add_edition(engine, number=1)
    engine.dispose()
    return edition_id


@pytest.fixture
def old_database(empty_database_url):
    return empty_database_url, database_at_0007(empty_database_url)


def rows(ctx, table) -> list[dict]:
    with ctx.engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(table)).mappings()]


async def test_suppressions_and_old_links_survive_the_upgrade(
    old_database, make_settings, smtp_server, tmp_path: Path
):
    url, edition_id = old_database
    settings = make_settings(
        database_url=url, smtp={"host": smtp_server.host, "port": smtp_server.port}
    )
    ctx = build_context(settings)
    try:
        report = initialise(ctx)
        assert (report.revision_before, report.revision_after) == ("0007", db.head_revision())
        require_database(ctx)

        # Nothing stored is an unkeyed SHA-256 of an address or a plain token any more.
        stored = {r["email_hash"] for r in rows(ctx, suppressions)}
        assert stored == {TEST_KEYS.address_key(a) for a in SUPPRESSED}
        assert not stored & {sha256(a) for a in SUPPRESSED}
        ledger = {r["email_hash"] for r in rows(ctx, consent_events)}
        assert ledger == {
            TEST_KEYS.address_key(a) for a in ("reader@example.kr", "erased@example.kr")
        }
        dump = repr(rows(ctx, subscribers)) + repr(rows(ctx, link_tokens))
        assert not any(token in dump for _, _, token in READERS)

        # A send skips the suppressed address whose row is still active.
        assert send.queue_edition(ctx, edition_id) == 2
        summary = await send.run_worker(ctx, until_idle=True)
        assert (summary.sent, summary.skipped) == (1, 1)
        assert [m.rcpt_tos for m in smtp_server.messages] == [["reader@example.kr"]]
        [copy] = smtp_server.messages
        reader = next(r for r in rows(ctx, subscribers) if r["email"] == "reader@example.kr")
        assert copy.message["Message-ID"] == message_id(ctx.engine, edition_id, reader["id"])
        # New mail carries the new token, which opens preferences; so does the old one.
        new_token = re.search(
            r"/unsubscribe/([A-Za-z0-9_-]+)", str(copy.message["List-Unsubscribe"])
        ).group(1)
        assert new_token == TEST_KEYS.link_token(reader["token_seed"])
        assert subscriptions.subscriber_for_token(ctx, new_token)["email"] == "reader@example.kr"
        old_token = READERS[0][2]
        assert subscriptions.subscriber_for_token(ctx, old_token)["email"] == "reader@example.kr"

        # An import refuses every suppressed address, the erased one included.
        csv_file = tmp_path / "list.csv"
        csv_file.write_text("email\nErased@Example.kr\nnew@example.kr\n")
        imported = subscriptions.import_csv_file(ctx, csv_file, confirmed=True, source="test")
        assert imported.suppressed == [2] and imported.imported == 1

        # The token in a mail sent before the upgrade still unsubscribes (제50조).
        assert subscriptions.unsubscribe(ctx, old_token, source="one-click")
        # The history of the erased address is still found by its address.
        assert [e["kind"] for e in subscriptions.consent_history(ctx, "erased@example.kr")] == [
            "consent"
        ]
        with ctx.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(deliveries)).scalar_one() == 2

        # init again changes nothing; another secret key is refused with one clear line.
        assert not initialise(ctx).changed
    finally:
        ctx.close()
    other = build_context(
        make_settings(database_url=url, secret_key="another-secret-key-0123456789abcdef")
    )
    try:
        with pytest.raises(ConfigError, match="not the key this database was set up with"):
            initialise(other)
        with pytest.raises(ConfigError, match="MAILER_SECRET_KEY"):
            require_database(other)
    finally:
        other.close()


def test_an_upgrade_with_data_needs_the_secret_key(old_database):
    url, _ = old_database
    engine = db.make_engine(url)
    try:
        with pytest.raises(StoreError, match="run `mailer init` with MAILER_SECRET_KEY"):
            db.upgrade(engine)
        assert db.current_revision(engine) == "0007"  # nothing half-done
    finally:
        engine.dispose()


def test_init_on_a_fresh_database_ties_it_to_the_key(empty_database_url, make_settings):
    ctx = build_context(make_settings(database_url=empty_database_url))
    try:
        initialise(ctx)
        with ctx.engine.connect() as conn:
            [row] = conn.execute(select(installation)).mappings().all()
        assert row["key_check"] == TEST_KEYS.check
        assert re.fullmatch(r"[0-9a-f]{16}", row["message_id_part"])
        # Look-ups by token hash go through unique indexes (no scan, no secret compared).
        inspector = inspect(ctx.engine)
        unique = {tuple(c["column_names"]) for c in inspector.get_unique_constraints("subscribers")}
        unique |= {
            tuple(i["column_names"]) for i in inspector.get_indexes("subscribers") if i["unique"]
        }
        assert ("token_hash",) in unique
        assert inspector.get_pk_constraint("link_tokens")["constrained_columns"] == ["token_hash"]
    finally:
        ctx.close()


def test_every_installation_has_its_own_message_id_part(tmp_path):
    parts = set()
    for name in ("one.db", "two.db"):
        engine = db.make_engine(f"sqlite:///{tmp_path / name}")
        db.upgrade(engine)
        with engine.connect() as conn:
            parts.add(conn.execute(select(installation.c.message_id_part)).scalar_one())
        engine.dispose()
    assert len(parts) == 2

"""The consent ledger: every wording kept, the version shown recorded, proof that outlives erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from mailer import delivery
from mailer import subscribers as subscriptions
from mailer.config import PROJECT_ROOT
from mailer.models import retention_days_text
from mailer.seed import initialise
from mailer.store.tables import consent_events, consent_texts
from tests.support.races import writer_racing_insert

T0 = datetime(2026, 5, 4, 0, 30, tzinfo=UTC)


@pytest.fixture
def ctx(context):
    initialise(context)
    return context


def test_init_stores_the_korean_and_english_wording_once(ctx):
    ko = subscriptions.current_consent_text(ctx, language="ko")
    en = subscriptions.current_consent_text(ctx, language="en")
    assert ko.language == "ko" and en.language == "en" and ko.version != en.version
    # 개인정보보호법 제15조②: purpose, items, retention and the right to refuse.
    for word in ("수집 목적", "수집 항목", "보유 기간", "동의 거부 권리"):
        assert word in ko.text
    for word in ("Purpose", "Items collected", "Retention", "Right to refuse"):
        assert word in en.text
    wording = (PROJECT_ROOT / "config" / "consent.ko.txt").read_text("utf-8").strip()
    days = retention_days_text(ctx.settings.subscriptions)
    assert ko.text == wording.replace("{retention_days}", days)
    assert initialise(ctx).seeded == []  # a second init adds nothing
    assert subscriptions.current_consent_text(ctx, language="xx").language == "ko"


def test_a_new_wording_becomes_current_and_the_old_one_is_kept(ctx):
    old = subscriptions.current_consent_text(ctx)
    subscriptions.signup(
        ctx, "early@example.kr", consented=True, consent_version=old.version, now=T0
    )
    new_version = subscriptions.register_consent_text(ctx, old.text + "\n문의: 070-7784-3185")
    assert subscriptions.current_consent_text(ctx).version == new_version != old.version
    subscriptions.signup(
        ctx, "late@example.kr", consented=True, consent_version=new_version, now=T0
    )
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consent_texts)).scalar_one() == 3
    early, late = (
        subscriptions.consent_history(ctx, "early@example.kr"),
        subscriptions.consent_history(ctx, "late@example.kr"),
    )
    assert early[0]["consent_version"] == old.version and early[0]["consent_text"] == old.text
    assert late[0]["consent_version"] == new_version and "070-7784-3185" in late[0]["consent_text"]


def test_an_unknown_consent_version_is_refused(ctx):
    from mailer.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as refused:
        subscriptions.signup(
            ctx, "x@example.kr", consented=True, consent_version="v-forged", now=T0
        )
    assert refused.value.field == "consent"
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consent_events)).scalar_one() == 0


async def test_the_ledger_proves_consent_after_erasure(ctx, smtp_server):
    version = subscriptions.current_consent_text(ctx).version
    subscriptions.signup(
        ctx,
        "proof@example.kr",
        consented=True,
        consent_version=version,
        ip="198.51.100.4",
        user_agent="Browser",
        source="web:poster",
        now=T0,
    )
    await delivery.deliver_notices(ctx, now=T0)
    import re

    text = smtp_server.messages[0].message.get_body(("plain",)).get_content()
    token = re.search(r"/confirm/([A-Za-z0-9_-]+)", text).group(1)
    subscriptions.confirm(
        ctx, token, ip="198.51.100.5", user_agent="Phone", now=T0 + timedelta(minutes=3)
    )
    before = subscriptions.consent_history(ctx, "proof@example.kr")
    assert [e["kind"] for e in before][:3] == ["consent", "notice", "confirmation"]
    assert before[0]["source"] == "web:poster" and before[0]["ip"] == "198.51.100.4"
    assert before[2]["at"] == T0 + timedelta(minutes=3)

    subscriptions.erase(ctx, email="proof@example.kr", source="admin", now=T0 + timedelta(days=1))
    after = subscriptions.consent_history(ctx, "PROOF@example.kr")  # found by hash, any case
    assert [e["kind"] for e in after][:3] == ["consent", "notice", "confirmation"]
    assert after[-1]["kind"] == "erasure" and after[-1]["source"] == "admin"
    assert all(e["ip"] is None and e["user_agent"] is None for e in after)
    assert after[0]["consent_version"] == version and after[0]["consent_text"]
    exported = list(subscriptions.export_consent_events(ctx))
    assert len(exported) == len(after)
    assert not any("proof@example.kr" in str(event) for event in exported)


def test_current_text_seeds_itself_when_init_did_not(context):
    from mailer.store import db

    db.upgrade(context.engine)  # schema only, no seeding
    text = subscriptions.current_consent_text(context, language="en")
    assert text is not None and text.language == "en"


def test_two_first_page_views_storing_the_wording_at_once_both_succeed(context):
    # GET /subscribe on a database `init` never seeded: two requests store the same
    # wording concurrently; neither may fail on the unique version.
    with writer_racing_insert(
        context.engine, "consent_texts", lambda: subscriptions.current_consent_text(context)
    ) as other:
        mine = subscriptions.current_consent_text(context)
    assert other == [mine]
    with context.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consent_texts)).scalar_one() == 2

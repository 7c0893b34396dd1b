"""Subscriber lifecycle use cases on SQLite and PostgreSQL, with notice mail through a real SMTP server."""

from __future__ import annotations

import asyncio
import re
import shutil
from datetime import UTC, datetime, timedelta

import dkim
import pytest
from sqlalchemy import func, select, update

from mailer import delivery
from mailer import subscribers as subscriptions
from mailer.bootstrap import build_context
from mailer.errors import InvalidSubscriberInput, SignupThrottled
from mailer.models import NoticeKind, SubscriberStatus
from mailer.seed import initialise
from mailer.store import notices as notice_store
from mailer.store.db import write_transaction
from mailer.store.tables import consent_events, link_tokens, notices, subscribers, suppressions
from mailer.subscribers import ConfirmState, Problem, SignupOutcome
from tests.helpers import TEST_KEYS, link_token
from tests.mail.test_prepared import dns_stub, rsa_key
from tests.support.races import HeldDatabase

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def ctx(context):
    initialise(context)
    return context


def version(ctx) -> str:

    return subscriptions.current_consent_text(ctx).version


def rows(ctx, table, *where):
    with ctx.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).where(*where)).mappings()]


def count(ctx, table) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def ledger_kinds(ctx, address: str) -> list[str]:
    found = rows(ctx, consent_events, consent_events.c.email_hash == TEST_KEYS.address_key(address))
    return [
        (e["kind"], (e["detail"] or {}).get("notice")) for e in sorted(found, key=lambda e: e["id"])
    ]


def data_token(server) -> str:
    """The token of the data-access link in the one mail that carries one."""
    found = [
        match.group(1)
        for mail in server.messages
        if (
            match := re.search(
                r"/my-data/([A-Za-z0-9_-]+)", mail.message.get_body(("plain",)).get_content()
            )
        )
    ]
    assert len(found) == 1, f"{len(found)} data-access links in the mail"
    return found[0]


def confirm_token(message) -> str:
    match = re.search(r"/confirm/([A-Za-z0-9_-]+)", message.get_body(("plain",)).get_content())
    assert match, "no confirmation link in the mail"
    return match.group(1)


def sign_up(ctx, address="reader@example.kr", **kw):
    kw.setdefault("consented", True)
    kw.setdefault("consent_version", version(ctx))
    kw.setdefault("now", T0)
    return subscriptions.signup(ctx, address, **kw)


async def test_double_opt_in_end_to_end_with_ledger(ctx, smtp_server):
    outcome = sign_up(
        ctx, "Reader@Example.KR", name="김독자", ip="203.0.113.7", user_agent="Mobile Safari"
    )
    assert outcome is SignupOutcome.CONFIRMATION_QUEUED
    [row] = rows(ctx, subscribers)
    assert row["email"] == "reader@example.kr" and row["status"] == "pending"

    assert await delivery.deliver_notices(ctx, now=T0) == 1
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["reader@example.kr"]
    assert "구독 확인" in mail.message["Subject"]
    assert "List-Unsubscribe" not in mail.message  # not subscribed yet
    token = confirm_token(mail.message)
    # Only the hash of the link's token is stored.
    [row] = rows(ctx, subscribers)
    assert token not in str(row.values()) and row["confirm_token_hash"]

    assert subscriptions.check_confirmation(ctx, token, now=T0).state is ConfirmState.VALID
    assert rows(ctx, subscribers)[0]["status"] == "pending"  # looking did not confirm
    later = T0 + timedelta(hours=1)
    result = subscriptions.confirm(ctx, token, ip="203.0.113.8", user_agent="Firefox", now=later)
    assert result.state is ConfirmState.CONFIRMED and result.name == "김독자"
    [row] = rows(ctx, subscribers)
    assert row["status"] == "active" and row["consented_at"] == later
    assert row["reconfirm_due_at"] == later + timedelta(days=730)
    again = subscriptions.confirm(ctx, token, now=later + timedelta(minutes=1))
    assert again.state is ConfirmState.ALREADY

    assert await delivery.deliver_notices(ctx, now=later) == 1
    welcome = smtp_server.messages[1].message
    assert "수신 동의 처리 결과" in welcome["Subject"]
    assert (
        welcome["List-Unsubscribe"].strip()
        == f"<http://127.0.0.1:8000/unsubscribe/{link_token(row)}>"
    )
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = welcome.get_body(("plain",)).get_content()
    assert "2026-03-02 11:00 KST" in body  # consent time in Asia/Seoul
    assert "070-7784-3185" in body and "(재)시흥산업진흥원" in body

    events = rows(ctx, consent_events)
    consent = next(e for e in events if e["kind"] == "consent")
    assert consent["ip"] == "203.0.113.7" and consent["user_agent"] == "Mobile Safari"
    assert consent["consent_version"] == version(ctx) and consent["source"] == "web"
    confirmation = next(e for e in events if e["kind"] == "confirmation")
    assert confirmation["ip"] == "203.0.113.8" and confirmation["consent_version"] == version(ctx)
    assert ledger_kinds(ctx, "reader@example.kr") == [
        ("consent", None),
        ("notice", "confirm"),
        ("confirmation", None),
        ("notice", "welcome"),
    ]
    # A sent notice no longer holds the address.
    assert all(n["to_address"] is None for n in rows(ctx, notices))


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({"email": "no-at-sign"}, {"email": Problem.INVALID_EMAIL}),
        ({"email": ""}, {"email": Problem.REQUIRED}),
        ({"email": "a@example.kr\r\nBcc: victim@example.kr"}, {"email": Problem.LINE_BREAK}),
        ({"email": "a@example.kr", "name": "Eve\nBcc: x@example.kr"}, {"name": Problem.LINE_BREAK}),
        ({"email": "a" * 250 + "@example.kr"}, {"email": Problem.TOO_LONG}),
        ({"email": "a@example.kr", "organisation": "x" * 101}, {"organisation": Problem.TOO_LONG}),
        (
            {"email": "bad", "name": "ok\u2028line", "organisation": "\x00"},
            {
                "email": Problem.INVALID_EMAIL,
                "name": Problem.LINE_BREAK,
                "organisation": Problem.LINE_BREAK,
            },
        ),
    ],
)
def test_refused_signup_stores_nothing(ctx, fields, problems):
    fields = dict(fields)
    address = fields.pop("email")
    with pytest.raises(InvalidSubscriberInput) as refused:
        sign_up(ctx, address, ip="203.0.113.9", **fields)
    assert refused.value.problems == problems
    assert count(ctx, subscribers) == count(ctx, consent_events) == count(ctx, notices) == 0


def test_idn_address_is_accepted_and_sent_in_ascii(ctx):
    sign_up(ctx, "담당자@예시.한국")
    [row] = rows(ctx, subscribers)
    assert row["email"] == "담당자@예시.한국"
    sign_up(ctx, "user@예시.한국")
    assert {r["email"] for r in rows(ctx, subscribers)} == {"담당자@예시.한국", "user@예시.한국"}


async def test_one_confirmation_mail_per_address_per_interval(ctx, smtp_server):
    assert sign_up(ctx) is SignupOutcome.CONFIRMATION_QUEUED
    assert sign_up(ctx, now=T0 + timedelta(minutes=9)) is SignupOutcome.MAIL_LIMITED
    assert await delivery.deliver_notices(ctx, now=T0 + timedelta(minutes=9)) == 1
    assert sign_up(ctx, now=T0 + timedelta(minutes=11)) is SignupOutcome.CONFIRMATION_QUEUED
    assert await delivery.deliver_notices(ctx, now=T0 + timedelta(minutes=11)) == 1
    assert len(smtp_server.messages) == 2
    # The newest link replaces the older one.
    first, second = (confirm_token(m.message) for m in smtp_server.messages)
    assert (
        subscriptions.confirm(ctx, first, now=T0 + timedelta(minutes=12)).state
        is ConfirmState.INVALID
    )
    assert (
        subscriptions.confirm(ctx, second, now=T0 + timedelta(minutes=12)).state
        is ConfirmState.CONFIRMED
    )


def test_per_ip_limit_refuses_after_the_hourly_quota(ctx):
    limit = ctx.settings.subscriptions.per_ip_per_hour
    for n in range(limit):
        sign_up(ctx, f"p{n}@example.kr", ip="198.51.100.1", now=T0 + timedelta(seconds=n))
    with pytest.raises(SignupThrottled):
        sign_up(ctx, "one-more@example.kr", ip="198.51.100.1", now=T0 + timedelta(minutes=5))
    assert count(ctx, subscribers) == limit  # the refused one left nothing behind
    sign_up(ctx, "other-ip@example.kr", ip="198.51.100.2", now=T0 + timedelta(minutes=5))
    sign_up(ctx, "next-hour@example.kr", ip="198.51.100.1", now=T0 + timedelta(minutes=61))
    assert count(ctx, subscribers) == limit + 2


async def test_signup_for_an_active_address_sends_a_short_notice_not_a_second_opt_in(
    ctx, smtp_server
):
    subscriptions.add_subscriber(ctx, "known@example.kr", confirmed=True, notify=False, now=T0)
    outcome = sign_up(ctx, "known@example.kr", name="Mallory", now=T0 + timedelta(hours=1))
    assert outcome is SignupOutcome.ALREADY_SUBSCRIBED
    assert await delivery.deliver_notices(ctx, now=T0 + timedelta(hours=1)) == 1
    assert "이미 구독 중" in smtp_server.messages[0].message["Subject"]
    [row] = rows(ctx, subscribers)
    assert row["status"] == "active" and row["name"] is None  # the stranger changed nothing


async def test_relay_down_keeps_the_notice_and_retries_later(ctx, smtp_server):
    smtp_server.stop()
    sign_up(ctx)
    assert await delivery.deliver_notices(ctx, now=T0) == 0
    [notice] = rows(ctx, notices)
    assert notice["state"] == "deferred" and notice["to_address"] == "reader@example.kr"
    assert notice["next_attempt_at"] > T0 and "connect" in notice["last_error"]
    smtp_server.start()
    assert await delivery.deliver_notices(ctx, now=T0) == 0  # not due yet
    assert await delivery.deliver_notices(ctx, now=T0 + timedelta(minutes=5)) == 1
    assert smtp_server.messages[0].rcpt_tos == ["reader@example.kr"]


async def test_temporary_and_permanent_refusals(ctx, smtp_server):
    sign_up(ctx, "soft@example.kr")
    sign_up(ctx, "hard@example.kr")
    smtp_server.fail("RCPT", 451, "4.3.0 try later", when=lambda a: a == "soft@example.kr")
    smtp_server.fail("RCPT", 550, "5.1.1 no such user", when=lambda a: a == "hard@example.kr")
    assert await delivery.deliver_notices(ctx, now=T0) == 0
    states = {n["id"]: n for n in rows(ctx, notices)}
    soft, hard = sorted(states.values(), key=lambda n: n["id"])
    assert soft["state"] == "deferred" and "451" in soft["last_error"]
    assert hard["state"] == "failed" and "550" in hard["last_error"] and hard["to_address"] is None
    assert await delivery.deliver_notices(ctx, now=T0 + timedelta(hours=1)) == 1


async def test_expired_confirmation_link(ctx, smtp_server):
    sign_up(ctx)
    await delivery.deliver_notices(ctx, now=T0)
    token = confirm_token(smtp_server.messages[0].message)
    late = T0 + timedelta(hours=48, seconds=1)
    assert subscriptions.confirm(ctx, token, now=late).state is ConfirmState.INVALID
    assert subscriptions.confirm(ctx, "forged-token", now=T0).state is ConfirmState.INVALID
    assert subscriptions.confirm(ctx, "x" * 5000, now=T0).state is ConfirmState.INVALID
    assert rows(ctx, subscribers)[0]["status"] == "pending"


async def test_unsubscribe_is_immediate_idempotent_and_notified_once(ctx, smtp_server):
    subscriptions.add_subscriber(ctx, "leaver@example.kr", confirmed=True, notify=False, now=T0)
    [row] = rows(ctx, subscribers)
    later = T0 + timedelta(days=10)
    assert subscriptions.unsubscribe(
        ctx, link_token(row), source="one-click", ip="192.0.2.1", user_agent="Gmail", now=later
    )
    assert not subscriptions.unsubscribe(ctx, link_token(row), source="one-click", now=later)
    assert not subscriptions.unsubscribe(ctx, "unknown-token", source="one-click", now=later)
    [row] = rows(ctx, subscribers)
    assert row["status"] == "unsubscribed" and row["unsubscribed_at"] == later
    [entry] = rows(ctx, suppressions)
    assert entry["email_hash"] == TEST_KEYS.address_key("leaver@example.kr")
    assert entry["reason"] == "unsubscribed"
    assert await delivery.deliver_notices(ctx, now=later) == 1
    assert len(smtp_server.messages) == 1
    assert "수신거부 처리 결과" in smtp_server.messages[0].message["Subject"]
    withdrawal = [e for e in rows(ctx, consent_events) if e["kind"] == "withdrawal"]
    assert len(withdrawal) == 1 and withdrawal[0]["source"] == "one-click"
    assert withdrawal[0]["ip"] == "192.0.2.1"


async def test_resubscribing_after_unsubscribe_lifts_the_suppression(ctx, smtp_server):
    subscriptions.add_subscriber(ctx, "back@example.kr", confirmed=True, notify=False, now=T0)
    token = link_token(rows(ctx, subscribers)[0])
    subscriptions.unsubscribe(ctx, token, source="one-click", now=T0)
    sign_up(ctx, "back@example.kr", now=T0 + timedelta(hours=1))
    assert rows(ctx, subscribers)[0]["status"] == "pending"
    assert count(ctx, suppressions) == 1  # still suppressed until the click
    await delivery.deliver_notices(ctx, now=T0 + timedelta(hours=1))
    confirm_mail = next(m for m in smtp_server.messages if "구독 확인" in m.message["Subject"])
    subscriptions.confirm(ctx, confirm_token(confirm_mail.message), now=T0 + timedelta(hours=2))
    assert rows(ctx, subscribers)[0]["status"] == "active"
    assert count(ctx, suppressions) == 0
    # Consent given again is a re-consent: mail of the earlier subscription (forwarded,
    # perhaps) no longer opens the preferences, and new mail carries a new token ...
    renewed = link_token(rows(ctx, subscribers)[0])
    assert renewed != token and subscriptions.subscriber_for_token(ctx, token) is None
    assert subscriptions.subscriber_for_token(ctx, renewed)["email"] == "back@example.kr"
    # ... while its unsubscribe link still works (정보통신망법 제50조).
    assert subscriptions.unsubscribe(ctx, token, source="one-click", now=T0 + timedelta(hours=3))
    assert rows(ctx, subscribers)[0]["status"] == "unsubscribed"


async def test_pause_and_resume(ctx):
    subscriptions.add_subscriber(ctx, "p@example.kr", confirmed=True, notify=False, now=T0)
    token = link_token(rows(ctx, subscribers)[0])
    assert subscriptions.set_paused(ctx, token, paused=True)
    assert not subscriptions.set_paused(ctx, token, paused=True)
    assert rows(ctx, subscribers)[0]["status"] == SubscriberStatus.PAUSED
    assert subscriptions.set_paused(ctx, token, paused=False)
    assert rows(ctx, subscribers)[0]["status"] == SubscriberStatus.ACTIVE
    kinds = [k for k, _ in ledger_kinds(ctx, "p@example.kr")]
    assert kinds[-2:] == ["pause", "resume"]


async def test_erasure_leaves_only_hashes(ctx, smtp_server):
    sign_up(ctx, "gone@example.kr", name="지울사람", organisation="연구소", ip="203.0.113.50")
    await delivery.deliver_notices(ctx, now=T0)
    subscriptions.confirm(
        ctx, confirm_token(smtp_server.messages[0].message), ip="203.0.113.51", now=T0
    )
    permanent = link_token(rows(ctx, subscribers)[0])
    # The token in every newsletter opens neither the data nor the erasure (issue 11, item 8).
    assert subscriptions.personal_data(ctx, permanent, now=T0) is None
    assert not subscriptions.erase(ctx, token=permanent, source="data-link", now=T0)
    smtp_server.clear()
    assert subscriptions.request_data_link(ctx, "Gone@Example.kr", now=T0)
    await delivery.deliver_notices(ctx, now=T0)
    token = data_token(smtp_server)
    data = subscriptions.personal_data(ctx, token, now=T0)
    assert data["email"] == "gone@example.kr" and data["organisation"] == "연구소"
    assert {e["kind"] for e in data["consent_events"]} >= {"consent", "confirmation"}
    assert version(ctx) in data["consent_texts"]

    assert subscriptions.erase(ctx, token=token, source="data-link", now=T0 + timedelta(hours=1))
    assert rows(ctx, subscribers) == []
    assert rows(ctx, suppressions)[0]["reason"] == "erased"
    events = rows(ctx, consent_events)
    assert all(e["ip"] is None and e["user_agent"] is None for e in events)
    assert all(e["subscriber_id"] is None for e in events)
    assert events[-1]["kind"] == "erasure"
    # The result notice still reaches the address, which is then dropped.
    smtp_server.clear()
    assert await delivery.deliver_notices(ctx, now=T0 + timedelta(days=1)) == 1
    assert "삭제 처리 결과" in smtp_server.messages[0].message["Subject"]
    everything = " ".join(
        str(r) for t in (notices, consent_events, suppressions) for r in rows(ctx, t)
    )
    assert "gone@example.kr" not in everything and "지울사람" not in everything
    assert not subscriptions.erase(ctx, token=token, source="data-link", now=T0)


async def test_reconfirmation_notice_every_two_years(ctx, smtp_server):
    subscriptions.add_subscriber(ctx, "old@example.kr", confirmed=True, notify=False, now=T0)
    subscriptions.add_subscriber(
        ctx, "new@example.kr", confirmed=True, notify=False, now=T0 + timedelta(days=400)
    )
    due = T0 + timedelta(days=730, hours=1)
    rings: list[None] = []
    ctx.mail_bell.listen(lambda: rings.append(None))
    assert await subscriptions.send_due_reconfirmations(ctx, now=T0 + timedelta(days=729)) == 0
    assert rings == []
    assert await subscriptions.send_due_reconfirmations(ctx, now=due) == 1
    assert await subscriptions.send_due_reconfirmations(ctx, now=due) == 0
    # Queued, and this process's delivery worker woken: the worker sends them.
    assert smtp_server.messages == [] and len(rings) == 1
    assert await delivery.deliver_notices(ctx, now=due) == 1
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["old@example.kr"]
    message = mail.message
    assert "수신 동의 사실 안내" in message["Subject"]
    assert not message["Subject"].startswith("(광고)")
    text = message.get_body(("plain",)).get_content()
    assert "2026-03-02 10:00 KST" in text  # when consent was given
    assert "/unsubscribe/" in text and "아무것도 하지 않으셔도" in text
    old = rows(ctx, subscribers, subscribers.c.email == "old@example.kr")[0]
    assert old["reconfirm_due_at"] == T0 + timedelta(days=1460)
    assert ("notice", "reconfirm") in ledger_kinds(ctx, "old@example.kr")


async def test_reconsent_issues_a_new_preferences_token(ctx, smtp_server):
    subscriptions.add_subscriber(ctx, "old@example.kr", confirmed=True, notify=False, now=T0)
    before = link_token(rows(ctx, subscribers)[0])
    due = T0 + timedelta(days=730, hours=1)
    assert await subscriptions.send_due_reconfirmations(ctx, now=due) == 1
    assert await delivery.deliver_notices(ctx, now=due) == 1
    text = smtp_server.messages[0].message.get_body(("plain",)).get_content()
    mailed = re.search(r"/preferences/([A-Za-z0-9_-]+)", text).group(1)
    assert mailed != before and mailed == link_token(rows(ctx, subscribers)[0])
    assert f"/unsubscribe/{mailed}" in text
    # A token leaked with an older (forwarded) mail no longer opens the preferences ...
    assert subscriptions.subscriber_for_token(ctx, before) is None
    assert subscriptions.subscriber_for_token(ctx, mailed)["email"] == "old@example.kr"
    # ... but it still unsubscribes: a refusal must be honoured (정보통신망법 제50조).
    assert subscriptions.unsubscribe(ctx, before, source="one-click", now=due)
    assert rows(ctx, subscribers)[0]["status"] == "unsubscribed"


async def test_a_data_link_works_for_a_day_only(ctx, smtp_server):
    subscriptions.add_subscriber(ctx, "me@example.kr", confirmed=True, notify=False, now=T0)
    assert subscriptions.request_data_link(ctx, "me@example.kr", now=T0)
    assert not subscriptions.request_data_link(ctx, "nobody@example.kr", now=T0)
    await delivery.deliver_notices(ctx, now=T0)
    token = data_token(smtp_server)
    within = T0 + timedelta(hours=23, minutes=59)
    assert subscriptions.personal_data(ctx, token, now=within)["email"] == "me@example.kr"
    late = T0 + timedelta(hours=24)
    assert subscriptions.personal_data(ctx, token, now=late) is None
    assert not subscriptions.erase(ctx, token=token, source="data-link", now=late)
    # It opens nothing else, and housekeeping forgets it once expired.
    assert subscriptions.subscriber_for_token(ctx, token) is None
    assert not subscriptions.unsubscribe(ctx, token, source="one-click", now=within)
    subscriptions.purge_expired(ctx, now=late)
    assert count(ctx, link_tokens) == 0
    assert rows(ctx, subscribers)[0]["status"] == "active"


async def test_reconfirmation_waits_for_the_relay(ctx, smtp_server):
    subscriptions.add_subscriber(ctx, "old@example.kr", confirmed=True, notify=False, now=T0)
    smtp_server.stop()
    due = T0 + timedelta(days=731)
    assert await subscriptions.send_due_reconfirmations(ctx, now=due) == 1
    assert await delivery.deliver_notices(ctx, now=due) == 0
    assert rows(ctx, notices)[0]["state"] == "deferred"
    smtp_server.start()
    assert await delivery.deliver_notices(ctx, now=due + timedelta(hours=2)) == 1


def test_purge_expired(ctx):
    sign_up(ctx, "stale@example.kr")
    sign_up(ctx, "fresh@example.kr", now=T0 + timedelta(days=6))
    subscriptions.add_subscriber(ctx, "left@example.kr", confirmed=True, notify=False, now=T0)
    subscriptions.add_subscriber(ctx, "stays@example.kr", confirmed=True, notify=False, now=T0)
    left = rows(ctx, subscribers, subscribers.c.email == "left@example.kr")[0]
    subscriptions.unsubscribe(ctx, link_token(left), source="one-click", now=T0 + timedelta(days=1))

    assert subscriptions.purge_expired(ctx, now=T0 + timedelta(days=7, hours=1)) == 2
    assert {r["email"] for r in rows(ctx, subscribers)} == {"fresh@example.kr", "stays@example.kr"}
    reasons = {r["email_hash"]: r["reason"] for r in rows(ctx, suppressions)}
    assert reasons == {TEST_KEYS.address_key("left@example.kr"): "unsubscribed"}
    erasures = [e for e in rows(ctx, consent_events) if e["kind"] == "erasure"]
    assert {e["source"] for e in erasures} == {"retention"}
    assert subscriptions.purge_expired(ctx, now=T0 + timedelta(days=7, hours=1)) == 0


async def test_notice_delivery_waiting_for_the_database_leaves_the_event_loop_free(
    ctx, smtp_server
):
    sign_up(ctx)
    with HeldDatabase(ctx.engine, "notices") as held:  # another writer (a long import)
        sending = asyncio.create_task(delivery.deliver_notices(ctx, now=T0))
        # This coroutine gets on only if the loop turns while the delivery waits for the lock
        # (the scheduler and the send worker share it in `mailer serve`).
        assert await asyncio.to_thread(held.wait_for_waiter), "the delivery never waited"
        held.release()
        assert await sending == 1
    assert not held.gave_up, "the event loop was blocked while the delivery waited for the lock"
    assert len(smtp_server.messages) == 1


async def test_a_notice_that_cannot_be_built_fails_alone(
    make_settings, settings, smtp_server, tmp_path
):
    templates = tmp_path / "templates"
    shutil.copytree(settings.templates_dir, templates)
    # The erasure notice sets no subject: rendering it raises TemplateError.
    (templates / "email" / "notice_erasure.txt.j2").write_text("no subject here\n")
    ctx = build_context(settings.model_copy(update={"templates_dir": templates}))
    try:
        initialise(ctx)
        with write_transaction(ctx.engine) as conn:
            notice_store.enqueue(
                conn, NoticeKind.ERASURE.value, to_address="gone@example.kr", now=T0
            )
        sign_up(ctx)
        assert await delivery.deliver_notices(ctx, now=T0) == 1
        broken, confirm = sorted(rows(ctx, notices), key=lambda n: n["id"])
        assert broken["state"] == "failed" and "subject" in broken["last_error"]
        assert confirm["state"] == "sent"
        assert [m.rcpt_tos for m in smtp_server.messages] == [["reader@example.kr"]]
        # Nothing is left claimed: a later round has nothing to retry.
        assert await delivery.deliver_notices(ctx, now=T0 + timedelta(hours=1)) == 0
    finally:
        ctx.close()


async def test_a_notice_in_flight_when_its_worker_died_becomes_unknown_and_is_not_resent(
    ctx, smtp_server
):
    sign_up(ctx)
    # A worker marked it sending and died (no heartbeat): the relay may or may not have it.
    with write_transaction(ctx.engine) as conn:
        conn.execute(update(notices).values(state="sending", claimed_by="gone:1:x", claimed_at=T0))
    assert await delivery.deliver_notices(ctx, now=T0 + timedelta(hours=1)) == 0
    [notice] = rows(ctx, notices)
    assert notice["state"] == "unknown" and "in flight" in notice["last_error"]
    assert notice["to_address"] is None and smtp_server.messages == []
    assert await delivery.deliver_notices(ctx, now=T0 + timedelta(days=1)) == 0
    assert smtp_server.messages == [], "an unknown notice is never sent again automatically"


async def test_a_notice_a_dead_worker_claimed_but_never_started_is_sent(ctx, smtp_server):
    sign_up(ctx)
    with write_transaction(ctx.engine) as conn:
        conn.execute(update(notices).values(claimed_by="gone:1:x", claimed_at=T0))
    assert await delivery.deliver_notices(ctx, now=T0 + timedelta(hours=1)) == 1
    [notice] = rows(ctx, notices)
    assert notice["state"] == "sent" and notice["attempts"] == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [["reader@example.kr"]]


async def test_notices_are_dkim_signed_over_list_unsubscribe(
    make_settings, settings, smtp_server, tmp_path
):
    private_key, public_key = rsa_key()
    key_path = tmp_path / "dkim.pem"
    key_path.write_bytes(private_key)
    signed_settings = make_settings(
        database_url=settings.database_url,
        smtp=settings.smtp.model_dump(),
        dkim={
            "enabled": True,
            "domain": "example.or.kr",
            "selector": "mailer",
            "private_key_path": str(key_path),
        },
    )
    ctx = build_context(signed_settings)
    try:
        initialise(ctx)
        subscriptions.add_subscriber(ctx, "reader@example.kr", confirmed=True, now=T0)
        assert await delivery.deliver_notices(ctx, now=T0) == 1
    finally:
        ctx.close()
    [mail] = smtp_server.messages
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    asked: list[bytes] = []
    assert dkim.verify(mail.data, dnsfunc=dns_stub(public_key, asked))
    assert asked == [b"mailer._domainkey.example.or.kr."]
    signature = mail.message["DKIM-Signature"]
    signed = {h.strip().lower() for h in re.search(r"h=([^;]+)", signature).group(1).split(":")}
    assert {"list-unsubscribe", "list-unsubscribe-post", "from", "subject"} <= signed
    # Changing the unsubscribe target breaks the signature.
    forged = mail.data.replace(b"/unsubscribe/", b"/unsubscribX/", 1)
    assert forged != mail.data
    assert not dkim.verify(forged, dnsfunc=dns_stub(public_key, []))

"""Issue 11 items 4 and 5 over real HTTP: invisible characters are refused in every form field,
a repeat signup never rewrites anyone's data, and a signup needs the consent text in force."""

from __future__ import annotations

import pytest

from mailer import subscribers as subscriptions
from mailer.keys import token_hash
from mailer.store.db import write_transaction
from mailer.store.tables import consent_events, notices, subscribers
from tests.web.test_public import (
    _active_subscriber,
    confirmation_path,
    count,
    hidden,
    rows,
    signup_form,
    site,  # noqa: F401 — the fixture
)

INVISIBLE_TEXT = "보이지 않는 문자나 글자 방향을 바꾸는 문자는 쓸 수 없습니다."
CONTROL_TEXT = "줄바꿈이나 제어 문자는 쓸 수 없습니다."


@pytest.mark.parametrize(
    ("fields", "refused", "words"),
    [
        ({"name": "홍길동\u202egnp.exe"}, ["name"], INVISIBLE_TEXT),
        ({"name": "\u200b"}, ["name"], INVISIBLE_TEXT),
        # Hangul fillers: the usual "invisible" Korean name.
        ({"name": "\u3164\u3164"}, ["name"], INVISIBLE_TEXT),
        ({"organisation": "시흥\u2066대학교\u2069"}, ["organisation"], INVISIBLE_TEXT),
        (
            {"organisation": "\ufeff회사", "name": "김\u200d철수"},
            ["name", "organisation"],
            INVISIBLE_TEXT,
        ),
        ({"name": "\x1b[31m김철수"}, ["name"], CONTROL_TEXT),
        ({"email": "reader\u200b@example.kr"}, ["email"], INVISIBLE_TEXT),
        ({"email": "reader@exam\u202eple.kr"}, ["email"], INVISIBLE_TEXT),
    ],
)
def test_invisible_and_direction_characters_are_refused_next_to_their_field(
    site,  # noqa: F811
    smtp_server,
    fields,
    refused,
    words,
):
    http, ctx = site
    answer = signup_form(http, **{"email": "reader@example.kr", **fields})
    assert answer.status_code == 400
    for field in refused:
        assert f'<p class="field-error" id="{field}-error">{words}</p>' in answer.text, field
    assert count(ctx, subscribers) == count(ctx, consent_events) == count(ctx, notices) == 0


def test_an_emoji_with_its_joiner_is_a_valid_name(site, smtp_server):  # noqa: F811
    http, ctx = site
    answer = signup_form(http, email="dev@example.kr", name="개발자 👩\u200d💻")
    assert answer.status_code == 200
    assert rows(ctx, subscribers)[0]["name"] == "개발자 👩\u200d💻"


def test_a_repeat_signup_never_rewrites_the_name_or_organisation(site, smtp_server):  # noqa: F811
    http, ctx = site
    first = signup_form(http, email="victim@example.kr", name="김철수", organisation="시흥대학교")
    confirmation_path(smtp_server, "victim@example.kr")
    attack = {"name": "Claim prize http://evil.example/x", "organisation": "Evil Corp"}

    pending = signup_form(http, email="victim@example.kr", **attack)
    fresh = signup_form(http, email="someone@example.kr", name="이영희")
    assert first.status_code == pending.status_code == fresh.status_code == 200
    assert first.text == pending.text == fresh.text  # no enumeration
    [row] = rows(ctx, subscribers, subscribers.c.email == "victim@example.kr")
    assert (row["status"], row["name"], row["organisation"]) == ("pending", "김철수", "시흥대학교")

    token = _active_subscriber(http, ctx, smtp_server, "active@example.kr")
    with write_transaction(ctx.engine) as conn:
        conn.execute(
            subscribers.update()
            .where(subscribers.c.token_hash == token_hash(token))
            .values(name="박민수", organisation="진흥원")
        )
    active = signup_form(http, email="active@example.kr", **attack)
    assert active.status_code == 200 and active.text == fresh.text
    [row] = rows(ctx, subscribers, subscribers.c.email == "active@example.kr")
    assert (row["status"], row["name"], row["organisation"]) == ("active", "박민수", "진흥원")


def test_a_signup_without_the_consent_text_in_force_stores_nothing(site, smtp_server):  # noqa: F811
    http, ctx = site
    missing = signup_form(http, email="reader@example.kr", consent_version="")
    assert missing.status_code == 400
    assert "동의 문구를 확인할 수 없습니다" in missing.text
    assert 'value="reader@example.kr"' in missing.text  # nothing the person typed is lost
    unknown = signup_form(http, email="reader@example.kr", consent_version="v-forged")
    assert unknown.status_code == 400 and "동의 문구가 바뀌었습니다" in unknown.text

    page = http.get("/subscribe")
    shown = hidden(page.text, "consent_version")
    subscriptions.register_consent_text(ctx, "새 개인정보 수집·이용 동의 문구 (2027년 개정)")
    stale = signup_form(http, email="reader@example.kr", consent_version=shown)
    assert stale.status_code == 400 and "동의 문구가 바뀌었습니다" in stale.text
    assert hidden(stale.text, "consent_version") != shown  # the new text is shown to agree to
    assert count(ctx, subscribers) == count(ctx, consent_events) == count(ctx, notices) == 0

    agreed = signup_form(http, email="reader@example.kr")
    assert agreed.status_code == 200
    # The worker may already have mailed the confirmation (a 'notice' event).
    [event] = rows(ctx, consent_events, consent_events.c.kind == "consent")
    assert event["consent_version"] == hidden(stale.text, "consent_version")


def test_the_preferences_form_refuses_invisible_characters(site, smtp_server):  # noqa: F811
    http, ctx = site
    token = _active_subscriber(http, ctx, smtp_server, "pref@example.kr")
    page = http.get(f"/preferences/{token}")
    csrf = hidden(page.text, "csrf_token")
    bad = http.post(
        f"/preferences/{token}/profile",
        data={"csrf_token": csrf, "name": "새\u202e이름", "organisation": "회사\u200b"},
    )
    assert bad.status_code == 400
    assert 'id="name-error"' in bad.text and 'id="organisation-error"' in bad.text
    assert INVISIBLE_TEXT in bad.text
    assert rows(ctx, subscribers)[0]["name"] is None

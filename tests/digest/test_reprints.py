"""A week of reworded reprints from several outlets: each story once in the edition, "함께 보도" naming the rest.

Runs on SQLite and PostgreSQL: the stories are stored as the poll step stores them
(each reprint its own row and cluster key, one with a second feed as source), and
the edition is created through the real path (select, join, render, freeze).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailer.bootstrap import build_context
from mailer.digest.create import create_edition
from mailer.store import editions as edition_store
from mailer.store.db import write_transaction
from tests.digest_data import BASE_URL, MONDAY, add_outlet, add_story, mark_sent

ZYMFENTRA = (
    "셀트리온이 미국 식품의약국(FDA)으로부터 피하주사형 인플릭시맙 '짐펜트라'의 품목허가를 받았다."
)


@pytest.fixture
def ctx(make_settings, database_url):
    context = build_context(make_settings(database_url=database_url, base_url=BASE_URL))
    yield context
    context.close()


def _week(conn) -> dict[str, int]:
    ids = {}
    ids["lead"] = add_story(
        conn, "lead", title="셀트리온, 美 FDA서 '짐펜트라' 품목허가 획득",
        summary=ZYMFENTRA, source="연합뉴스", relevance=9,
    )  # fmt: skip
    add_outlet(conn, ids["lead"], "한국경제")
    ids["reworded"] = add_story(
        conn, "reworded", title="[속보] 셀트리온 짐펜트라, 미국 FDA 허가",
        summary="셀트리온의 자가면역질환 치료제 짐펜트라가 미국 FDA 허가를 받았다.",
        source="약업신문", relevance=7,
    )  # fmt: skip
    ids["other-drug"] = add_story(
        conn, "other-drug", title="셀트리온, 졸레어 시밀러 '옴리클로' 美 FDA 허가",
        summary="셀트리온이 졸레어 바이오시밀러 '옴리클로'의 미국 FDA 품목허가를 획득했다.",
        source="연합뉴스", relevance=8,
    )  # fmt: skip
    ids["english"] = add_story(
        conn, "english", title="Pfizer inks $4.9B deal for obesity biotech Metsera",
        summary="Pfizer will pay up to $4.9 billion for Metsera.", source="Fierce Biotech",
        relevance=6, keywords=("biotech",),
    )  # fmt: skip
    ids["english-reprint"] = add_story(
        conn, "english-reprint", title="Pfizer to acquire Metsera for up to $4.9 billion",
        summary="Pfizer agreed to buy obesity drug developer Metsera for up to $4.9 billion.",
        source="Reuters", relevance=5, keywords=("biotech",), age=timedelta(days=2),
    )  # fmt: skip
    return ids


def test_each_story_appears_once_with_the_other_outlets(ctx):
    with write_transaction(ctx.engine) as conn:
        ids = _week(conn)
    edition = create_edition(ctx, schedule="digest", scheduled_for=MONDAY, now=MONDAY)

    sections = [(story["section"], story["title"]) for story in edition.stories]
    assert sections == [
        ("기업·투자", "Pfizer inks $4.9B deal for obesity biotech Metsera"),
        ("연구·임상", "셀트리온, 美 FDA서 '짐펜트라' 품목허가 획득"),
        ("연구·임상", "셀트리온, 졸레어 시밀러 '옴리클로' 美 FDA 허가"),
    ]
    pfizer, lead, other = edition.stories
    assert lead["source"] == "연합뉴스"
    assert lead["also_reported_by"] == ["한국경제", "약업신문"]
    assert lead["member_ids"] == [ids["lead"], ids["reworded"]]
    assert other["also_reported_by"] == []
    assert pfizer["also_reported_by"] == ["Reuters"]
    for part in (edition.html, edition.text):
        assert part.count("함께 보도: 한국경제, 약업신문") == 1
        assert part.count("함께 보도: Reuters") == 1
        assert "짐펜트라, 미국 FDA 허가" not in part
        assert "Pfizer to acquire Metsera" not in part
    # Every member is frozen into the edition, so no reprint comes back next week.
    with ctx.engine.connect() as conn:
        linked = set(edition_store.edition_story_ids(conn, edition.id))
    assert linked == set(ids.values())
    with write_transaction(ctx.engine) as conn:
        mark_sent(conn, edition.id)
    later = MONDAY + timedelta(days=1)
    nothing = create_edition(ctx, schedule="digest", scheduled_for=later, now=later)
    assert nothing.stories == []

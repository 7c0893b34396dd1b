"""Reworded reprints in one edition: one entry, led by the best-ranked member, other outlets named."""

from __future__ import annotations

from datetime import UTC, datetime

from mailer.digest.clusters import merge_near_duplicates
from mailer.models import StoryView

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _view(story_id, title, source, summary="", also=()):
    return StoryView(
        title=title,
        url=f"https://news.example/{story_id}",
        source=source,
        published=NOW,
        summary=summary,
        also_reported_by=also,
        story_id=story_id,
        member_ids=(story_id,),
    )


def test_rewordings_join_behind_the_best_ranked_member():
    ranked = [
        _view(1, "셀트리온, 美 FDA서 '짐펜트라' 품목허가 획득", "연합뉴스", also=("한국경제",)),
        _view(2, "큐로셀, 300억원 규모 시리즈C 투자 유치", "더벨"),
        _view(3, "[속보] 셀트리온 짐펜트라, 미국 FDA 허가", "약업신문"),
        _view(4, "셀트리온 '짐펜트라', 미국서 신약 허가 받았다", "히트뉴스", also=("연합뉴스",)),
    ]
    entries = merge_near_duplicates(ranked)
    assert [entry.story_id for entry in entries] == [1, 2]
    lead = entries[0]
    assert lead.title == ranked[0].title and lead.source == "연합뉴스"
    assert lead.also_reported_by == ("한국경제", "약업신문", "히트뉴스")
    assert lead.member_ids == (1, 3, 4)
    assert entries[1] == ranked[1]


def test_different_news_of_one_company_stays_apart():
    ranked = [
        _view(1, "셀트리온, 스텔라라 시밀러 '스테키마' 美 FDA 허가", "연합뉴스"),
        _view(2, "셀트리온, 졸레어 시밀러 '옴리클로' 美 FDA 허가", "연합뉴스"),
        _view(3, "셀트리온, 3분기 매출 9064억원", "연합뉴스"),
        _view(4, "셀트리온, 2분기 매출 8419억원", "연합뉴스"),
    ]
    assert [entry.story_id for entry in merge_near_duplicates(ranked)] == [1, 2, 3, 4]


def test_a_vague_story_does_not_chain_two_different_ones():
    ranked = [
        _view(1, "시흥산업진흥원, K-바이오 육성전략 세미나 2회차 개최", "시흥신문"),
        _view(2, "시흥산업진흥원, K-바이오 육성전략 세미나 3회차 개최", "시흥신문"),
        _view(3, "시흥산업진흥원, K-바이오 육성전략 세미나 개최", "경기일보"),
    ]
    entries = merge_near_duplicates(ranked)
    # The vague one joins one of them at most; 2회차 and 3회차 never share an entry.
    assert len(entries) == 2
    assert not any({1, 2} <= set(entry.member_ids) for entry in entries)


def test_an_empty_window_and_a_single_story():
    assert merge_near_duplicates([]) == []
    alone = _view(1, "바이오", "A")
    assert merge_near_duplicates([alone]) == [alone]

"""Story rows and fixed times for the digest, archive and benchmark tests (inserted like the poll step would)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, insert, update

from mailer.models import EditionState
from mailer.store.tables import editions, feeds, stories, story_sources

#: Monday 2026-12-07 09:00 in Seoul: the default digest schedule's fire time.
MONDAY = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
BASE_URL = "https://news.example.or.kr"


def add_story(
    conn: Connection,
    uid: str,
    /,
    *,
    title: str,
    summary: str = "",
    source: str = "연합뉴스",
    url: str | None = None,
    relevance: float = 1.0,
    relevant: bool = True,
    age: timedelta = timedelta(days=1),
    cluster: str | None = None,
    keywords: tuple[str, ...] = ("바이오",),
    now: datetime = MONDAY,
) -> int:
    result = conn.execute(
        insert(stories).values(
            uid=uid,
            url=url if url is not None else f"https://news.example.kr/articles/{uid}",
            title=title,
            summary=summary,
            source=source,
            content_hash=uid,
            cluster_key=cluster or uid,
            relevance=relevance,
            relevant=relevant,
            matched_keywords=list(keywords),
            published_at=now - age,
            first_seen_at=now,
        )
    )
    return result.inserted_primary_key[0]


def add_outlet(conn: Connection, story_id: int, source: str, /, *, now: datetime = MONDAY) -> None:
    """The same story seen in a second feed (story_sources), as the poll step records it."""
    feed_id = conn.execute(
        insert(feeds).values(
            name=source, url=f"https://{story_id}.{len(source)}.example/rss", created_at=now
        )
    ).inserted_primary_key[0]
    conn.execute(
        insert(story_sources).values(
            story_id=story_id,
            feed_id=feed_id,
            source=source,
            url="https://other.example/1",
            seen_at=now,
        )
    )


def week_of_news(conn: Connection, /, *, now: datetime = MONDAY) -> dict[str, int]:
    """A realistic week: four sections' worth, a cluster reported by three outlets,
    an English story, hostile text, an old and an irrelevant story. Returns ids by key."""
    ids: dict[str, int] = {}
    ids["policy"] = add_story(
        conn,
        "policy",
        title="시흥시, 배곧 바이오 특화단지 지정 위해 정부 공모 신청",
        summary="<p>시흥시가 배곧신도시 일대를 바이오 특화단지로 지정받기 위해 산업통상자원부 공모에 "
        "신청서를 냈다. 서울대 시흥캠퍼스와 연계한 연구·생산 거점을 만든다는 계획이다.</p>",
        source="경기일보",
        relevance=9,
        age=timedelta(hours=20),
        now=now,
    )
    ids["fda"] = add_story(
        conn,
        "fda",
        title="셀트리온, 美 FDA에 자가면역질환 신약 허가 신청",
        summary="셀트리온이 미국 식품의약국(FDA)에 자가면역질환 치료제의 품목 허가를 신청했다.",
        relevance=8,
        age=timedelta(days=2),
        now=now,
    )
    ids["fda-reprint"] = add_story(
        conn,
        "fda-reprint",
        title="[속보] 셀트리온, FDA에 신약 허가 신청",
        source="매일경제",
        relevance=7,
        age=timedelta(days=2),
        cluster="fda",
        now=now,
    )
    add_outlet(conn, ids["fda"], "한국경제", now=now)
    ids["invest"] = add_story(
        conn,
        "invest",
        title="티앤알바이오팹, 시리즈B 300억원 투자 유치",
        summary="3D 바이오프린팅 기업 티앤알바이오팹이 300억원 규모의 투자를 유치했다고 밝혔다.",
        source="머니투데이",
        relevance=6,
        age=timedelta(days=3),
        now=now,
    )
    ids["research"] = add_story(
        conn,
        "research",
        title="국내 연구진, 혈액으로 알츠하이머 조기 진단하는 바이오마커 발견",
        summary="한국공학대학교 연구팀이 혈액 검사만으로 알츠하이머병을 조기에 진단할 수 있는 "
        "바이오마커를 찾아 <b>네이처 커뮤니케이션즈</b>에 발표했다.",
        source="동아사이언스",
        relevance=5,
        age=timedelta(days=1),
        now=now,
    )
    ids["boston"] = add_story(
        conn,
        "boston",
        title="Boston biotech cluster adds 2,000 jobs as global pharma expands R&D",
        summary="Big pharma keeps expanding research sites around Kendall Square.",
        source="Endpoints News",
        relevance=4,
        age=timedelta(days=4),
        keywords=("biotech",),
        now=now,
    )
    ids["hostile"] = add_story(
        conn,
        "hostile",
        title='<script>alert("x")</script> 바이오 행사 %%MAILER_UNSUBSCRIBE_URL%%',
        summary='요약 <img src=x onerror=alert(1)> &amp; "따옴표" %%MAILER_EMAIL%%',
        source="<b>해킹일보</b>",
        url="javascript:alert(1)",
        relevance=3,
        age=timedelta(days=5),
        now=now,
    )
    ids["old"] = add_story(
        conn, "old", title="오래된 바이오 소식", relevance=10, age=timedelta(days=8), now=now
    )
    ids["irrelevant"] = add_story(
        conn, "irrelevant", title="주말 날씨", relevance=0, relevant=False, now=now
    )
    return ids


def mark_sent(conn: Connection, edition_id: int, /, *, at: datetime = MONDAY) -> None:
    """What the send step does when an edition's deliveries are done."""
    conn.execute(
        update(editions)
        .where(editions.c.id == edition_id)
        .values(state=str(EditionState.SENT), sent_at=at)
    )


def skipped_week_then_news(ctx, week: datetime, /, *, title: str) -> tuple:
    """An edition at ``week`` with no news (skipped), then one a week later with a story
    titled ``title``: (the skipped edition, the next one, its time)."""
    from mailer.digest import create_edition
    from mailer.store.db import write_transaction

    skipped = create_edition(ctx, schedule="digest", scheduled_for=week, now=week)
    assert skipped.state is EditionState.SKIPPED and skipped.number is None
    later = week + timedelta(days=7)
    with write_transaction(ctx.engine) as conn:
        add_story(conn, title, title=title, now=later)
    return skipped, create_edition(ctx, schedule="digest", scheduled_for=later, now=later), later

"""The poll step end to end: real HTTP feeds in, stories and feed state out, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from mailer.feeds.poll import backoff_until, poll_feeds
from mailer.store import feeds as feed_store
from mailer.store.db import write_transaction
from mailer.store.stories import select_candidates
from mailer.store.tables import stories, story_sources

DATA = Path(__file__).resolve().parent.parent / "data" / "feeds"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def add(ctx, url, *, name="", keywords=(), exclude=()):
    with write_transaction(ctx.engine) as conn:
        return feed_store.add_feed(
            conn,
            url,
            name=name,
            include_keywords=list(keywords),
            exclude_keywords=list(exclude),
            now=NOW - timedelta(days=1),
        )["id"]


def feed_row(ctx, url):
    with ctx.engine.connect() as conn:
        return feed_store.get_feed(conn, url)


def serve(feed_server, path, name, **kw):
    return feed_server.add(path, (DATA / name).read_bytes(), **kw)


def candidates(ctx):
    with ctx.engine.connect() as conn:
        return select_candidates(conn, since=NOW - WEEK, limit=100)


async def test_a_mix_of_good_hostile_and_broken_feeds(make_context, feed_server):
    ctx = make_context(exclude_keywords=["광고"])
    good = {
        "korean": serve(feed_server, "/bio/rss.xml", "korean_rss20.xml"),
        "reprint": serve(feed_server, "/pharm/rss.xml", "reprint_rss20.xml"),
        "atom": serve(feed_server, "/atom.xml", "atom.xml", content_type="application/atom+xml"),
        "rdf": serve(feed_server, "/rdf.xml", "rdf_rss10.xml", content_type="application/rdf+xml"),
        "euckr": serve(
            feed_server,
            "/euckr.xml",
            "cp949_declared_euckr.xml",
            content_type="text/xml; charset=euc-kr",
        ),
        "malformed": serve(feed_server, "/broken.xml", "malformed.xml"),
        "bomb": serve(feed_server, "/lol.xml", "billion_laughs.xml"),
    }
    bad = {
        "html": serve(
            feed_server, "/page.html", "html_page.html", content_type="text/html; charset=utf-8"
        ),
        "hang": feed_server.add("/hang.xml", b"<rss/>", delay=30),
        "error": feed_server.url("/error.xml"),
        "gone": feed_server.url("/gone.xml"),
        "text": feed_server.add("/text", b"hello", content_type="text/plain"),
    }
    feed_server.set_status("/error.xml", 500)
    feed_server.set_status("/gone.xml", 410)
    for url in [*good.values(), *bad.values()]:
        add(ctx, url)

    results = {result.url: result for result in await poll_feeds(ctx, now=NOW)}

    assert {url: str(results[url].status) for url in good.values()} == dict.fromkeys(
        good.values(), "ok"
    )
    assert results[good["korean"]].new == 6
    assert results[good["reprint"]].new == 2
    assert results[good["malformed"]].new == 3
    errors = {name: results[url].error for name, url in bad.items()}
    assert all(str(results[url].status) == "error" for url in bad.values())
    assert errors["html"] == "not a feed: the server sent an HTML page (text/html)"
    assert errors["hang"] == "no complete response within 1 s"
    assert errors["error"] == "HTTP 500 Internal Server Error"
    assert errors["gone"].startswith("HTTP 410 Gone") and "disabled" in errors["gone"]
    assert errors["text"].startswith("not a feed")

    # The same article from two feeds is one story with two sources.
    with ctx.engine.connect() as conn:
        shared = conn.execute(
            select(stories.c.id).where(
                stories.c.uid == "https://bio.example.kr/news/articleView.html?idxno=104"
            )
        ).scalar_one()
        sources = (
            conn.execute(select(story_sources.c.source).where(story_sources.c.story_id == shared))
            .scalars()
            .all()
        )
    assert sorted(sources) == ["바이오 산업 뉴스", "제약 경제"]

    views = candidates(ctx)
    titles = [view.title for view in views]
    # Relevant, recent, de-duplicated: the weather, last month's story and the
    # excluded advertisement are stored but not selected; reprints show once.
    assert "주말 날씨: 전국 맑고 쌀쌀" not in titles
    assert "지난달 바이오 신약 임상 3상 결과 발표" not in titles
    assert "[광고] 바이오 신약 투자설명회 안내" not in titles
    assert titles.count("K-바이오 기술수출 올해 10조 돌파 … 신약 파이프라인 주목") == 1
    fda = [view for view in views if "셀트리온 항체 바이오시밀러 품목허가" in view.title]
    assert len(fda) == 1 and len(fda[0].member_ids) == 2
    assert set(fda[0].also_reported_by) | {fda[0].source} == {"바이오 산업 뉴스", "제약 경제"}
    expected = {
        "시흥 배곧에 재생의료 & 세포치료 연구센터 착공",
        "K-바이오 기술수출 올해 10조 돌파 … 신약 파이프라인 주목",
        "Bispecific antibody & ADC deal: $1B upfront",
        "Notes without a link",
        "CRISPR gene therapy enters phase 3 clinical trial",
        "똠양꿍 제약, 햏 바이오 신약 임상 승인",
        "바이오 벤처 & 제약사 공동연구 계약",
        "의료기기 수출 20% 증가",
        "마지막 백신 임상 소식",
        "Biotech survives the bomb",
    }
    assert expected <= set(titles)
    assert set(titles) - expected == {fda[0].title}
    for view in views:
        assert view.url.startswith(("http://", "https://"))
        assert "utm_" not in view.url and "fbclid" not in view.url
        assert "<script" not in view.summary and "javascript:" not in view.summary
        assert view.published.tzinfo is not None
    undated = next(view for view in views if view.title.startswith("K-바이오"))
    assert undated.published == datetime(2026, 12, 6, 2, 0, tzinfo=UTC) or undated.published == NOW

    # Feed rows: names from the channel, failures counted with backoff, 410 disabled.
    assert feed_row(ctx, good["korean"])["name"] == "바이오 산업 뉴스"
    html_row = feed_row(ctx, bad["html"])
    assert html_row["consecutive_failures"] == 1 and html_row["last_status"] == "error"
    assert html_row["next_attempt_at"] == NOW + timedelta(seconds=300)
    assert html_row["last_error"] == errors["html"]
    assert feed_row(ctx, bad["gone"])["enabled"] is False

    # Second poll: every good feed answers 304; the broken ones are backing off.
    feed_server.clear_requests()
    again = await poll_feeds(ctx, now=NOW + timedelta(minutes=1))
    assert {result.url: str(result.status) for result in again} == dict.fromkeys(
        good.values(), "not_modified"
    )
    assert all(request.headers.get("if-none-match") for request in feed_server.requests)
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(story_sources)).scalar() == sum(
            results[url].new for url in good.values()
        )


async def test_a_changed_feed_adds_only_its_new_items(make_context, feed_server):
    ctx = make_context()
    body = (DATA / "rdf_rss10.xml").read_text("utf-8")
    url = feed_server.add("/rdf.xml", body.encode())
    add(ctx, url)
    assert [r.new for r in await poll_feeds(ctx, now=NOW)] == [1]
    extra = """<item rdf:about="https://rdf.example.org/mrna">
    <title>mRNA vaccine plant opens</title><link>https://rdf.example.org/mrna</link>
    <dc:date>2026-12-06T10:00:00Z</dc:date></item>
</rdf:RDF>"""
    feed_server.add("/rdf.xml", body.replace("</rdf:RDF>", extra).encode())
    second = await poll_feeds(ctx, now=NOW + timedelta(hours=1))
    assert [(str(r.status), r.new) for r in second] == [("ok", 1)]
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(stories)).scalar() == 2


async def test_backoff_grows_and_a_recovered_feed_is_reset(make_context, feed_server):
    ctx = make_context()
    url = feed_server.add("/rss", (DATA / "rdf_rss10.xml").read_bytes())
    feed_server.set_status("/rss", 500)
    add(ctx, url)
    await poll_feeds(ctx, now=NOW)
    assert feed_row(ctx, url)["next_attempt_at"] == NOW + timedelta(seconds=300)
    assert await poll_feeds(ctx, now=NOW + timedelta(seconds=60)) == []  # still waiting
    await poll_feeds(ctx, now=NOW + timedelta(seconds=301))
    row = feed_row(ctx, url)
    assert row["consecutive_failures"] == 2
    assert row["next_attempt_at"] == NOW + timedelta(seconds=301 + 600)
    feed_server.set_status("/rss", 200)
    [result] = await poll_feeds(ctx, now=NOW + timedelta(seconds=302), only_due=False)
    assert str(result.status) == "ok"
    row = feed_row(ctx, url)
    assert (row["consecutive_failures"], row["next_attempt_at"], row["last_error"]) == (
        0,
        None,
        None,
    )


def test_backoff_is_capped_and_never_shorter_than_retry_after():
    assert backoff_until(1, now=NOW, base=300, cap=3600) == NOW + timedelta(seconds=300)
    assert backoff_until(10, now=NOW, base=300, cap=3600) == NOW + timedelta(seconds=3600)
    assert backoff_until(1, now=NOW, base=300, cap=3600, retry_after=7200) == NOW + timedelta(
        seconds=7200
    )
    assert backoff_until(1, now=NOW, base=300, cap=3600, retry_after=10) == NOW + timedelta(
        seconds=300
    )


async def test_retry_after_sets_the_next_attempt(make_context, feed_server):
    ctx = make_context()
    url = feed_server.url("/busy")
    feed_server.set_status("/busy", 429, {"Retry-After": "7200"})
    add(ctx, url)
    [result] = await poll_feeds(ctx, now=NOW)
    assert result.error == "HTTP 429 Too Many Requests; retry after 7200 s"
    assert feed_row(ctx, url)["next_attempt_at"] == NOW + timedelta(seconds=7200)


async def test_a_permanent_redirect_moves_the_feed(make_context, feed_server):
    ctx = make_context()
    new = feed_server.add("/new.xml", (DATA / "rdf_rss10.xml").read_bytes())
    old = feed_server.redirect("/old.xml", "/new.xml", status=301)
    add(ctx, old)
    [result] = await poll_feeds(ctx, now=NOW)
    assert str(result.status) == "ok" and result.url == old
    assert feed_row(ctx, new)["url"] == new
    feed_server.clear_requests()
    [result] = await poll_feeds(ctx, now=NOW + timedelta(minutes=5))
    assert str(result.status) == "not_modified"
    assert [request.path for request in feed_server.requests] == ["/new.xml"]


async def test_per_feed_keywords_and_a_second_source_raising_relevance(make_context, feed_server):
    ctx = make_context(parse_processes=1)
    body = f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>반도체 소식</title>
    <item><title>시흥 반도체 장비 공장 준공</title><link>https://chip.example.kr/1</link>
    <pubDate>{NOW.strftime("%a, %d %b %Y %H:%M:%S +0000")}</pubDate></item></channel></rss>""".encode()
    plain = feed_server.add("/plain.xml", body)
    add(ctx, plain, name="일반")
    await poll_feeds(ctx, now=NOW)
    assert candidates(ctx) == []  # stored, but nothing bio about it
    special = feed_server.add("/special.xml", body + b" ")
    add(ctx, special, name="반도체 전문", keywords=["반도체"])
    results = {r.url: r for r in await poll_feeds(ctx, now=NOW + timedelta(minutes=1))}
    assert (str(results[special].status), results[special].new) == ("ok", 1)
    assert str(results[plain].status) == "not_modified"
    [view] = candidates(ctx)
    assert view.title == "시흥 반도체 장비 공장 준공"
    assert view.also_reported_by == ("반도체 전문",) and view.source == "일반"
    assert "반도체" in view.matched_keywords


async def test_dates_missing_or_in_the_future_become_the_first_seen_time(make_context, feed_server):
    ctx = make_context()
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <item><title>Biotech IPO priced</title><link>https://x.example/1</link></item>
    <item><title>Biotech from the future</title><link>https://x.example/2</link>
    <pubDate>Fri, 01 Jan 2100 00:00:00 +0000</pubDate></item></channel></rss>"""
    add(ctx, feed_server.add("/rss", body))
    await poll_feeds(ctx, now=NOW)
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(stories.c.published_at, stories.c.first_seen_at)).all()
    assert rows == [(NOW, NOW), (NOW, NOW)]


async def test_disabled_feeds_are_not_polled(make_context, feed_server):
    ctx = make_context()
    url = feed_server.add("/rss", (DATA / "rdf_rss10.xml").read_bytes())
    add(ctx, url)
    with write_transaction(ctx.engine) as conn:
        feed_store.set_enabled(conn, url, enabled=False, now=NOW)
    assert await poll_feeds(ctx, now=NOW, only_due=False) == []
    assert feed_server.requests == []


async def test_ssrf_guard_applies_to_polls(make_context, feed_server):
    ctx = make_context(allow_private=False)
    url = feed_server.add("/rss", (DATA / "rdf_rss10.xml").read_bytes())
    add(ctx, url)
    [result] = await poll_feeds(ctx, now=NOW)
    assert str(result.status) == "error" and "loopback" in result.error
    assert feed_server.requests == []

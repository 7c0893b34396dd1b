"""What a feed says is what is stored (issue 13 items 2 and 3), through the real poll path.

Each feed is served by a real HTTP server and polled with ``poll_feeds`` on SQLite and
PostgreSQL; the assertions read the stories and feed rows back from the store.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

import mailer.feeds.prepare as prepare_module
from mailer.feeds.poll import poll_feeds
from mailer.store import feeds as feed_store
from mailer.store.db import write_transaction
from mailer.store.tables import stories
from tests.cli.test_feeds import make_cli

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def rss(items: str, *, channel: str = "<title>시험 신문</title>") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"{channel}{items}</channel></rss>"
    ).encode()


def item(title: str, link: str, *, date: str | None = None, description: str = "") -> str:
    dated = f"<pubDate>{date}</pubDate>" if date else ""
    described = f"<description><![CDATA[{description}]]></description>" if description else ""
    return f"<item><title>{title}</title><link>{link}</link>{dated}{described}</item>"


def atom(entries: str, *, version: str = "1.0") -> bytes:
    namespace = "http://www.w3.org/2005/Atom" if version == "1.0" else "http://purl.org/atom/ns#"
    extra = "" if version == "1.0" else ' version="0.3"'
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="{namespace}"{extra}>'
        f"<title>Atom test</title>{entries}</feed>"
    ).encode()


def add(ctx, url: str) -> None:
    with write_transaction(ctx.engine) as conn:
        feed_store.add_feed(
            conn,
            url,
            name="",
            include_keywords=[],
            exclude_keywords=[],
            now=NOW - timedelta(days=1),
        )


async def poll_one(ctx, url: str, *, now: datetime = NOW):
    """Register ``url`` (the first time) and poll it; the one result."""
    with ctx.engine.connect() as conn:
        registered = any(feed["url"] == url for feed in feed_store.list_feeds(conn))
    if not registered:
        add(ctx, url)
    [result] = await poll_feeds(ctx, now=now, only_due=False)
    return result


def stored(ctx) -> dict[str, dict]:
    """Every stored story by title."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(stories)).mappings().all()
    return {row["title"]: dict(row) for row in rows}


def warnings_of(ctx, url: str) -> list[str]:
    with ctx.engine.connect() as conn:
        return feed_store.get_feed(conn, url)["warnings"]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# -- dates ------------------------------------------------------------------------------------


async def test_korean_cms_dates_are_seoul_wall_time(make_context, feed_server):
    ctx = make_context()
    dates = {
        "오후 기사": ("2004-05-25 오후 11:23:17", utc(2004, 5, 25, 14, 23, 17)),
        "정오 기사": ("2004-05-25 오후 12:05:00", utc(2004, 5, 25, 3, 5)),
        "자정 기사": ("2004-05-25 오전 12:05:00", utc(2004, 5, 24, 15, 5)),
        "년월일 기사": ("2004년 05월 28일 01:31:15", utc(2004, 5, 27, 16, 31, 15)),
        "점 기사": ("2004.05.28 01:31", utc(2004, 5, 27, 16, 31)),
        "하이픈 기사": ("2004-05-28 01:31:15", utc(2004, 5, 27, 16, 31, 15)),
    }
    items = "".join(
        item(title, f"https://news.example.kr/{index}", date=date)
        for index, (title, (date, _)) in enumerate(dates.items())
    )
    url = feed_server.add("/kr.xml", rss(items))
    result = await poll_one(ctx, url)
    assert (str(result.status), result.new) == ("ok", len(dates))
    found = stored(ctx)
    assert {title: found[title]["published_at"] for title in dates} == {
        title: expected for title, (_, expected) in dates.items()
    }
    assert warnings_of(ctx, url) == []


async def test_named_zones_and_the_twitter_form_are_read_right(make_context, feed_server):
    ctx = make_context()
    dates = {
        "kst": ("Mon, 06 Sep 2021 12:00:00 KST", utc(2021, 9, 6, 3)),
        "etc-gmt": ("Mon, 06 Sep 2021 12:00:00 Etc/GMT", utc(2021, 9, 6, 12)),
        "etc-gmt-9": ("2021-09-06 12:00:00 Etc/GMT-9", utc(2021, 9, 6, 3)),
        "seoul": ("2021-09-06 12:00:00 Asia/Seoul", utc(2021, 9, 6, 3)),
        "gmt+9": ("Mon, 06 Sep 2021 12:00:00 GMT+9", utc(2021, 9, 6, 3)),
        "twitter": ("Sun Jul 15 01:16:00 +0000 2012", utc(2012, 7, 15, 1, 16)),
        "est": ("Mon, 06 Sep 2021 12:00:00 EST", utc(2021, 9, 6, 17)),
        "offset-comment": ("Mon, 06 Sep 21 12:00 +0900 (KST)", utc(2021, 9, 6, 3)),
    }
    items = "".join(
        item(title, f"https://news.example.com/{title}", date=date)
        for title, (date, _) in dates.items()
    )
    url = feed_server.add("/zones.xml", rss(items))
    assert str((await poll_one(ctx, url)).status) == "ok"
    found = stored(ctx)
    assert {title: found[title]["published_at"] for title in dates} == {
        title: expected for title, (_, expected) in dates.items()
    }


async def test_a_date_that_cannot_be_stored_costs_only_the_date(make_context, feed_server):
    ctx = make_context()
    body = rss(
        item("좋은 기사", "https://news.example.kr/good", date="2026-12-06 오전 09:00:00")
        + item("먼 미래 기사", "https://news.example.kr/far", date="9999-12-31T23:59:59-99:99")
        + item("없는 날 기사", "https://news.example.kr/feb", date="2026-02-30 10:00")
        + item("모르는 시간대", "https://news.example.kr/zone", date="Mon, 06 Sep 2021 12:00 XYZ")
    )
    url = feed_server.add("/dates.xml", body)
    result = await poll_one(ctx, url)
    assert (str(result.status), result.new, result.error) == ("ok", 4, None)
    found = stored(ctx)
    assert found["좋은 기사"]["published_at"] == utc(2026, 12, 6, 0)
    # Dated when first seen, i.e. at this poll.
    for title in ("먼 미래 기사", "없는 날 기사", "모르는 시간대"):
        assert found[title]["published_at"] == NOW
    warnings = warnings_of(ctx, url)
    assert len(warnings) == 3
    assert warnings[0].startswith('item 2 "먼 미래 기사": date "9999-12-31T23:59:59-99:99"')
    assert warnings[0].endswith("dated when first seen instead")
    assert 'item 3 "없는 날 기사"' in warnings[1] and "2026-02-30" in warnings[1]
    assert 'item 4 "모르는 시간대"' in warnings[2] and "time zone" in warnings[2]

    # The feed fixed: the next read replaces the warnings; a 304 keeps them.
    feed_server.add("/dates.xml", rss(item("좋은 기사", "https://news.example.kr/good")))
    assert str((await poll_one(ctx, url, now=NOW + timedelta(hours=1))).status) == "ok"
    assert warnings_of(ctx, url) == []


async def test_a_feed_keeps_ten_warnings_and_counts_the_rest(make_context, feed_server):
    ctx = make_context()
    items = "".join(
        item(f"기사 {number}", f"https://news.example.kr/{number}", date="다음 주 언젠가")
        for number in range(1, 16)
    )
    url = feed_server.add("/many.xml", rss(items))
    result = await poll_one(ctx, url)
    assert (str(result.status), result.new) == ("ok", 15)
    warnings = warnings_of(ctx, url)
    assert len(warnings) == 10
    assert [line.split(":")[0] for line in warnings[:9]] == [
        f'item {number} "기사 {number}"' for number in range(1, 10)
    ]
    assert warnings[9] == "… and 6 more item warnings"


async def test_feeds_list_shows_the_warnings(tmp_path, database_url, feed_server):
    cli = make_cli(tmp_path, database_url)
    url = feed_server.add(
        "/bad-date.xml",
        rss(
            item("좋은 기사", "https://news.example.kr/1", date="Mon, 06 Sep 2021 12:00:00 +0900")
            + item(
                "날짜가 깨진 기사", "https://news.example.kr/2", date="9999-12-31T23:59:59-99:99"
            )
        ),
    )
    assert cli("feeds", "add", url).returncode == 0
    polled = cli("feeds", "poll")
    assert polled.returncode == 0, polled.stderr
    assert f"{url}  ok, 2 new, 1 warning (`mailer feeds list` shows them)" in polled.stdout
    listed = cli("feeds", "list")
    assert (
        '        warning: item 2 "날짜가 깨진 기사": date "9999-12-31T23:59:59-99:99" has an '
        "impossible UTC offset -99:99; dated when first seen instead"
    ) in listed.stdout
    [feed] = json.loads(cli("feeds", "list", "--json").stdout)
    assert feed["warnings"] == [
        'item 2 "날짜가 깨진 기사": date "9999-12-31T23:59:59-99:99" has an impossible UTC '
        "offset -99:99; dated when first seen instead"
    ]


# -- one bad item never fails its feed --------------------------------------------------------


async def test_items_with_broken_urls_cost_only_their_links(make_context, feed_server):
    ctx = make_context()
    body = rss(
        item("IPv6가 깨진 링크", "http://[::1/x")
        + "<item><title>깨진 guid</title><guid>http://[::1/guid</guid></item>"
        + item("멀쩡한 기사", "https://news.example.kr/fine"),
        channel="<title>시험 신문</title><link>https://news.example.kr/</link>",
    )
    url = feed_server.add("/broken-urls.xml", body)
    result = await poll_one(ctx, url)
    assert (str(result.status), result.new, result.error) == ("ok", 3, None)
    found = stored(ctx)
    assert found["멀쩡한 기사"]["url"] == "https://news.example.kr/fine"
    # No usable link: the story links to the site, and keeps its guid as identity.
    assert found["IPv6가 깨진 링크"]["url"] == "https://news.example.kr/"
    assert (found["깨진 guid"]["url"], found["깨진 guid"]["uid"]) == (
        "https://news.example.kr/",
        "guid:http://[::1/guid",
    )
    assert warnings_of(ctx, url) == [
        'item 1 "IPv6가 깨진 링크": its link "http://[::1/x" is no valid URL and was left out',
        # An RSS guid is a permalink unless it says otherwise.
        'item 2 "깨진 guid": its link "http://[::1/guid" is no valid URL and was left out',
    ]


async def test_an_items_xml_base_ends_with_the_item(make_context, feed_server):
    ctx = make_context()
    body = atom(
        '<entry xml:base="http://[zz/"><title>깨진 base</title><id>tag:t,2026:1</id>'
        "<link href='https://news.example.kr/1'/>"
        "<summary type='html'>&lt;a href='more'&gt;더 보기&lt;/a&gt; 본문</summary></entry>"
        '<entry xml:base="https://other.example.kr/x/"><title>다른 base</title>'
        "<id>tag:t,2026:2</id><link href='a'/></entry>"
        "<entry><title>base 없음</title><id>tag:t,2026:3</id><link href='b'/></entry>"
    )
    url = feed_server.add("/bases/atom.xml", body, content_type="application/atom+xml")
    result = await poll_one(ctx, url)
    assert (str(result.status), result.new, result.error) == ("ok", 3, None)
    found = stored(ctx)
    assert found["깨진 base"]["url"] == "https://news.example.kr/1"
    assert "본문" in found["깨진 base"]["summary"]
    assert found["다른 base"]["url"] == "https://other.example.kr/x/a"
    assert found["base 없음"]["url"] == feed_server.url("/bases/b")


async def test_an_item_that_fails_to_be_prepared_is_skipped_with_a_warning(
    make_context, feed_server, monkeypatch
):
    # A bug that only one item triggers, injected into the step that scores and
    # identifies items (in-thread parsing, so the patch reaches it).
    ctx = make_context(parse_processes=1)
    real = prepare_module.cluster_key

    def failing(title: str, **kw):
        if "폭탄" in title:
            raise RuntimeError("simulated bug")
        return real(title, **kw)

    monkeypatch.setattr(prepare_module, "cluster_key", failing)
    url = feed_server.add(
        "/bug.xml",
        rss(
            item("첫 기사", "https://news.example.kr/1")
            + item("폭탄 기사", "https://news.example.kr/2")
            + item("셋째 기사", "https://news.example.kr/3")
        ),
    )
    result = await poll_one(ctx, url)
    assert (str(result.status), result.new) == ("ok", 2)
    assert set(stored(ctx)) == {"첫 기사", "셋째 기사"}
    assert warnings_of(ctx, url) == [
        'item 2 "폭탄 기사": skipped, preparing it for storage failed (RuntimeError: simulated bug)'
    ]


# -- text fidelity ----------------------------------------------------------------------------


async def test_plain_text_titles_keep_their_literal_characters(make_context, feed_server):
    ctx = make_context()
    encoded = base64.b64encode(b"A <b>bold</b> &amp; claim").decode()
    url10 = feed_server.add(
        "/atom.xml",
        atom(
            '<entry><title type="text">History of the &lt;blink&gt; tag</title>'
            '<link href="https://a.example.com/1"/><id>a1</id></entry>'
            '<entry><title type="html">&lt;b&gt;Bold&lt;/b&gt; news &amp;amp; more</title>'
            '<link href="https://a.example.com/2"/><id>a2</id></entry>'
            '<entry><title type="text">AT&amp;T &lt;3 R&amp;D</title>'
            '<link href="https://a.example.com/3"/><id>a3</id></entry>'
        ),
        content_type="application/atom+xml",
    )
    url03 = feed_server.add(
        "/atom03.xml",
        atom(
            f'<entry><title type="text/plain" mode="base64">{encoded}</title>'
            '<link rel="alternate" type="text/html" href="https://b.example.com/1"/>'
            "<id>b1</id></entry>"
            '<entry><title type="text/plain" mode="escaped">Escaped &lt;i&gt;x&lt;/i&gt;</title>'
            '<link rel="alternate" type="text/html" href="https://b.example.com/2"/>'
            "<id>b2</id></entry>"
            f'<entry><title type="text/html" mode="base64">{encoded}</title>'
            '<link rel="alternate" type="text/html" href="https://b.example.com/3"/>'
            "<id>b3</id></entry>",
            version="0.3",
        ),
        content_type="application/atom+xml",
    )
    add(ctx, url10)
    add(ctx, url03)
    results = await poll_feeds(ctx, now=NOW)
    assert [str(result.status) for result in results] == ["ok", "ok"]
    by_url = {row["url"]: title for title, row in stored(ctx).items()}
    assert by_url == {
        "https://a.example.com/1": "History of the <blink> tag",
        "https://a.example.com/2": "Bold news & more",
        "https://a.example.com/3": "AT&T <3 R&D",
        "https://b.example.com/1": "A <b>bold</b> &amp; claim",
        "https://b.example.com/2": "Escaped <i>x</i>",
        "https://b.example.com/3": "A bold & claim",
    }


async def test_a_plain_text_summary_is_shown_as_written(make_context, feed_server):
    ctx = make_context()
    url = feed_server.add(
        "/atom-summary.xml",
        atom(
            '<entry><title>Release</title><link href="https://a.example.com/s"/><id>s1</id>'
            '<summary type="text">Dose &lt; 5 mg &amp; R&amp;D &lt;unchanged&gt;</summary></entry>'
            # No type="html" although it is HTML: the formatting is what its readers expect.
            '<entry><title>Untyped</title><link href="https://a.example.com/u"/><id>s2</id>'
            "<summary>&lt;p&gt;Phase 3 &lt;b&gt;met&lt;/b&gt; its endpoint&lt;/p&gt;</summary>"
            "</entry>"
        ),
        content_type="application/atom+xml",
    )
    assert str((await poll_one(ctx, url)).status) == "ok"
    found = stored(ctx)
    assert found["Release"]["summary"] == "Dose &lt; 5 mg &amp; R&amp;D &lt;unchanged&gt;"
    assert found["Untyped"]["summary"] == "<p>Phase 3 <b>met</b> its endpoint</p>"


async def test_content_location_is_the_base_of_relative_links(make_context, feed_server):
    ctx = make_context()
    body = rss(
        item("상대 링크", "article/1", description='<a href="../more/2">더 보기</a>'),
        channel="<title>시험 신문</title><link>/</link>",
    )
    url = feed_server.add(
        "/feeds/rss",
        body,
        headers={"Content-Location": "https://news.example.kr/news/rss.xml"},
    )
    assert str((await poll_one(ctx, url)).status) == "ok"
    story = stored(ctx)["상대 링크"]
    assert story["url"] == "https://news.example.kr/news/article/1"
    assert 'href="https://news.example.kr/more/2"' in story["summary"]


async def test_query_strings_are_kept_byte_for_byte_but_trackers(make_context, feed_server):
    ctx = make_context()
    links = {
        "bare field": (
            "https://q.example.kr/a?a=1&amp;b=2&amp;c",
            "https://q.example.kr/a?a=1&b=2&c",
        ),
        "encoded": (
            "https://q.example.kr/b?q=%20x+y&amp;utm_source=rss&amp;id=3#top",
            "https://q.example.kr/b?q=%20x+y&id=3#top",
        ),
        "only trackers": (
            "https://q.example.kr/c?utm_medium=feed&amp;fbclid=XYZ",
            "https://q.example.kr/c",
        ),
        "empty fields": ("https://q.example.kr/d?x=&amp;&amp;y", "https://q.example.kr/d?x=&&y"),
    }
    url = feed_server.add(
        "/query.xml", rss("".join(item(title, link) for title, (link, _) in links.items()))
    )
    assert str((await poll_one(ctx, url)).status) == "ok"
    found = stored(ctx)
    assert {title: found[title]["url"] for title in links} == {
        title: expected for title, (_, expected) in links.items()
    }


async def test_removed_block_elements_keep_words_apart(make_context, feed_server):
    ctx = make_context()
    descriptions = {
        "div": "<div>신약 후보를 낸다.</div><div>자세히 보기</div>",
        "table": "<table><tr><td>매출</td><td>영업이익</td></tr></table>",
        "heading": "<h2>요약</h2>본문입니다",
        "iframe": "<p>영상</p><iframe src='https://v.example.kr/'>영상을 볼 수 없으면 링크</iframe>",
        "object": "<object data='x.swf'>대체 글</object>",
        "noscript": "<noscript><p>스크립트 없이</p></noscript>",
        "script": "앞<script>alert(1)</script>뒤",
    }
    url = feed_server.add(
        "/blocks.xml",
        rss(
            "".join(
                item(title, f"https://blocks.example.kr/{title}", description=text)
                for title, text in descriptions.items()
            )
        ),
    )
    assert str((await poll_one(ctx, url)).status) == "ok"
    found = stored(ctx)
    summaries = {title: " ".join(found[title]["summary"].split()) for title in descriptions}
    assert summaries == {
        "div": "신약 후보를 낸다. 자세히 보기",
        "table": "매출 영업이익",
        "heading": "요약 본문입니다",
        "iframe": "<p>영상</p> 영상을 볼 수 없으면 링크",
        "object": "대체 글",
        "noscript": "<p>스크립트 없이</p>",
        "script": "앞뒤",
    }

"""Issue 3's "done when", as a new user tries it: good, hostile and broken feeds registered with
`feeds add`, `feeds poll --json`, then `digest preview --format json` lists exactly the relevant,
recent, de-duplicated, sanitised stories; every broken feed has a readable error; the second
poll of the good feeds is all `not_modified`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from mailer.config import PROJECT_ROOT
from tests.cli.test_feeds import make_cli


def rss(title: str, items: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://example.kr/</link>{items}</channel></rss>"
    ).encode()


def item(title: str, link: str, *, hours_ago: float, description: str = "") -> str:
    stamp = format_datetime(datetime.now(UTC) - timedelta(hours=hours_ago), usegmt=True)
    return (
        f"<item><title>{title}</title><link>{link}</link><pubDate>{stamp}</pubDate>"
        f"<description><![CDATA[{description}]]></description></item>"
    )


def test_good_hostile_and_broken_feeds_end_to_end(tmp_path, database_url, feed_server):
    cli = make_cli(tmp_path, database_url)
    hostile_summary = (
        '<p onclick="steal()">셀트리온이 <b>바이오시밀러</b> 허가를 받았다. '
        '<a href="javascript:alert(1)">클릭</a><img src=x onerror=alert(1)></p>'
        "<script>document.location='https://evil.example/'</script>"
    )
    good = feed_server.add(
        "/bio.xml",
        rss(
            "바이오 뉴스",
            item(
                "[속보] 美 FDA, 셀트리온 항체 바이오시밀러 품목허가",
                "https://bio.example.kr/a/101?utm_source=rss",
                hours_ago=2,
            )
            + item(
                "항암 신약 임상 3상 성공",
                "https://bio.example.kr/a/102",
                hours_ago=2,
                description=hostile_summary,
            )
            + item("시흥 배곧 재생의료 연구센터 착공", "https://bio.example.kr/a/103", hours_ago=3)
            + item("주말 날씨: 전국 맑고 쌀쌀", "https://bio.example.kr/a/105", hours_ago=4)
            + item("지난달 신약 허가 정리", "https://bio.example.kr/a/90", hours_ago=24 * 20),
        ),
    )
    reprint = feed_server.add(
        "/pharm.xml",
        rss(
            "제약 경제",
            # The same story again (tracker removed → same uid) and a reworded reprint title.
            item(
                "시흥 배곧 재생의료 연구센터 착공",
                "https://bio.example.kr/a/103?fbclid=abc",
                hours_ago=1,
            )
            + item(
                "[단독] 미국 FDA, 셀트리온 항체 바이오시밀러 품목허가 - 바이오 뉴스",
                "https://pharm.example.com/55501",
                hours_ago=1,
            ),
        ),
    )
    html_page = feed_server.add(
        "/page", b"<html><body>no feed</body></html>", content_type="text/html"
    )
    failing = feed_server.add("/down.xml", b"", status=500)
    hanging = feed_server.add("/slow.xml", rss("slow", ""), delay=30)
    for url in (good, reprint, html_page, failing, hanging):
        added = cli("feeds", "add", url)
        assert added.returncode == 0, added.stderr

    polled = cli("feeds", "poll", "--json")
    assert polled.returncode == 0, polled.stderr
    by_url = {row["url"]: row for row in json.loads(polled.stdout)}
    assert set(by_url) == {good, reprint, html_page, failing, hanging}
    assert by_url[good]["status"] == by_url[reprint]["status"] == "ok"
    for broken in (html_page, failing, hanging):
        assert by_url[broken]["status"] == "error"
        assert by_url[broken]["error"] and len(by_url[broken]["error"]) < 300
    assert "HTML" in by_url[html_page]["error"]
    assert "500" in by_url[failing]["error"]

    seminar = str(PROJECT_ROOT / "config" / "seminar.toml")
    preview = cli("digest", "preview", "--format", "json", MAILER_DIGEST__SEMINAR_FILE=seminar)
    assert preview.returncode == 0, preview.stderr
    stories = json.loads(preview.stdout)["stories"]
    # Relevant and recent only (no weather, nothing 20 days old), each story once: the
    # FDA story and its reprint (another outlet, "[단독]", 미국/美, outlet suffix) are one.
    assert len(stories) == 3
    assert (
        sum("FDA" in story["title"] and "바이오시밀러" in story["title"] for story in stories) == 1
    )
    assert sum(story["title"] == "시흥 배곧 재생의료 연구센터 착공" for story in stories) == 1
    hostile = next(story for story in stories if story["title"] == "항암 신약 임상 3상 성공")
    assert "script" not in hostile["summary"] and "javascript:" not in hostile["summary"]
    assert "onclick" not in hostile["summary"] and "onerror" not in hostile["summary"]
    assert "바이오시밀러" in hostile["summary"]
    assert all(
        story["url"].startswith("https://") and "utm_" not in story["url"] for story in stories
    )

    again = json.loads(cli("feeds", "poll", "--json").stdout)
    statuses = {row["url"]: row["status"] for row in again}
    assert statuses[good] == statuses[reprint] == "not_modified"

"""Parsing feed bytes: formats, charsets, links, sanitising, dates, malformed and hostile documents."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailer.errors import FeedError
from mailer.feeds.parse import parse_feed, strip_doctype

DATA = Path(__file__).resolve().parent.parent / "data" / "feeds"
RSS = {"content-type": "application/rss+xml; charset=utf-8"}


def parse(name: str, *, headers=None, url=None, zone="Asia/Seoul"):
    return parse_feed(
        (DATA / name).read_bytes(),
        url=url or f"https://feeds.example.org/{name}",
        headers=headers if headers is not None else {"content-type": "application/xml"},
        zone=zone,
    )


def by_title(feed):
    return {entry.title: entry for entry in feed.entries}


@pytest.mark.parametrize(
    ("name", "version", "title"),
    [
        ("korean_rss20.xml", "rss20", "바이오 산업 뉴스"),
        ("rdf_rss10.xml", "rss10", "RDF Biotech Wire"),
        ("netscape_rss091.xml", "rss091u", "Old School Pharma"),
        ("atom.xml", "atom10", "Antibody Notes"),
    ],
)
def test_every_feed_format_parses(name, version, title):
    feed = parse(name)
    assert feed.version == version
    assert feed.title == title
    assert feed.entries and all(entry.title for entry in feed.entries)


def test_latin1_declared_in_the_xml_declaration_is_honoured():
    feed = parse("netscape_rss091.xml")
    assert feed.entries[0].title == "Vaccine maker opens plant in Zürich"


def test_euc_kr_label_is_read_as_cp949():
    # The file declares euc-kr but contains 똠 and 햏, which only CP949 (UHC) encodes.
    feed = parse("cp949_declared_euckr.xml", headers={"content-type": "text/xml"})
    assert feed.title == "약업 소식"
    assert feed.entries[0].title == "똠양꿍 제약, 햏 바이오 신약 임상 승인"


def test_charset_from_the_http_header_is_honoured():
    body = (DATA / "cp949_declared_euckr.xml").read_bytes().replace(b' encoding="euc-kr"', b"")
    feed = parse_feed(
        body,
        url="http://euckr.example.co.kr/rss",
        headers={"Content-Type": "text/xml; charset=EUC-KR"},
    )
    assert feed.entries[0].title == "똠양꿍 제약, 햏 바이오 신약 임상 승인"


def test_undeclared_cp949_bytes_are_still_read_as_korean():
    body = (DATA / "cp949_declared_euckr.xml").read_bytes().replace(b' encoding="euc-kr"', b"")
    feed = parse_feed(
        body, url="http://euckr.example.co.kr/rss", headers={"content-type": "application/xml"}
    )
    assert feed.entries[0].title == "똠양꿍 제약, 햏 바이오 신약 임상 승인"


def test_utf16_with_a_byte_order_mark():
    text = (
        (DATA / "korean_rss20.xml")
        .read_text("utf-8")
        .replace('encoding="utf-8"', 'encoding="utf-16"')
    )
    feed = parse_feed(text.encode("utf-16"), url="https://bio.example.kr/rss", headers={})
    assert feed.title == "바이오 산업 뉴스"
    assert len(feed.entries) == 6


def test_relative_links_resolve_against_the_feed_url_and_xml_base():
    rss = by_title(parse("korean_rss20.xml", url="https://bio.example.kr/rss/allArticle.xml"))
    first = rss["[속보] 美 FDA, 셀트리온 항체 바이오시밀러 품목허가"]
    assert (
        first.link
        == "https://bio.example.kr/news/articleView.html?idxno=101&utm_source=rss&utm_medium=feed"
    )
    assert 'href="https://bio.example.kr/news/102"' in first.summary
    atom = by_title(parse("atom.xml"))
    deal = atom["Bispecific antibody & ADC deal: $1B upfront"]
    assert deal.link == "https://atom.example.org/blog/posts/bispecific-deal.html"
    assert 'href="https://atom.example.org/blog/posts/term-sheet.html"' in deal.summary


def test_titles_are_plain_text_with_entities_decoded_once():
    rss = parse("korean_rss20.xml")
    titles = [entry.title for entry in rss.entries]
    assert "시흥 배곧에 재생의료 & 세포치료 연구센터 착공" in titles
    assert "K-바이오 기술수출 올해 10조 돌파 … 신약 파이프라인 주목" in titles
    atom = parse("atom.xml")
    assert atom.entries[0].title == "Bispecific antibody & ADC deal: $1B upfront"


def test_summaries_are_sanitised():
    summary = by_title(parse("korean_rss20.xml"))[
        "[속보] 美 FDA, 셀트리온 항체 바이오시밀러 품목허가"
    ].summary
    assert "<b>바이오시밀러</b>" in summary
    for forbidden in [
        "<script",
        "document.cookie",
        "onclick",
        "javascript:",
        "data:",
        "<img",
        "<style",
        "display:none",
    ]:
        assert forbidden not in summary, forbidden
    assert 'rel="noopener noreferrer nofollow"' in summary


def test_a_long_summary_becomes_a_short_plain_text():
    long_text = "바이오 " * 400
    body = f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
    <item><title>긴 요약</title><link>https://a.example/1</link>
    <description>&lt;p&gt;&lt;b&gt;{long_text}&lt;/b&gt;&lt;/p&gt;</description></item></channel></rss>""".encode()
    summary = parse_feed(body, url="https://a.example/rss", headers=RSS).entries[0].summary
    assert "<" not in summary and summary.endswith("…") and len(summary) <= 301


def test_dates_become_utc_and_zoneless_dates_are_read_in_the_configured_zone():
    rss = by_title(parse("korean_rss20.xml", zone="Asia/Seoul"))
    assert rss["[속보] 美 FDA, 셀트리온 항체 바이오시밀러 품목허가"].published == datetime(
        2026, 12, 7, 0, 0, tzinfo=UTC
    )
    # "2026-12-06 14:30:00" carries no zone: Seoul wall-clock time.
    assert rss["시흥 배곧에 재생의료 & 세포치료 연구센터 착공"].published == datetime(
        2026, 12, 6, 5, 30, tzinfo=UTC
    )
    assert rss["K-바이오 기술수출 올해 10조 돌파 … 신약 파이프라인 주목"].published is None
    atom = parse("atom.xml")
    assert atom.entries[0].published == datetime(2026, 12, 6, 8, 30, tzinfo=UTC)


def test_kst_zone_name_is_understood():
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>a</title>
    <link>https://a.example/1</link><pubDate>Mon, 07 Dec 2026 09:00:00 KST</pubDate></item></channel></rss>"""
    entry = parse_feed(body, url="https://a.example/rss", headers=RSS, zone="UTC").entries[0]
    assert entry.published == datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


def test_a_link_too_long_to_store_is_dropped_not_truncated():
    long_link = "https://a.example/" + "x" * 2100
    body = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <item><title>Biotech</title><link>{long_link}</link><guid>g-1</guid></item></channel></rss>""".encode()
    [entry] = parse_feed(body, url="https://a.example/rss", headers=RSS).entries
    assert entry.link is None and entry.guid == "g-1"


def test_entry_without_link_keeps_its_guid():
    atom = by_title(parse("atom.xml"))
    entry = atom["Notes without a link"]
    assert entry.link is None
    assert entry.guid == "urn:uuid:4b1c6b4e-9d0e-4d7e-8a57-0c5f5bb1f001"
    assert entry.text == "Monoclonal antibody biosimilars, explained."


def test_malformed_feed_keeps_every_recoverable_item():
    feed = parse("malformed.xml")
    assert feed.problem  # the document is not well-formed XML …
    titles = [entry.title for entry in feed.entries]
    # … yet all three items survive, the truncated last one included.
    assert titles == [
        "바이오 벤처 & 제약사 공동연구 계약",
        "의료기기 수출 20% 증가",
        "마지막 백신 임상 소식",
    ]


@pytest.mark.parametrize(
    ("name", "content_type", "reason"),
    [
        (
            "html_page.html",
            "text/html; charset=utf-8",
            "not a feed: the server sent an HTML page (text/html)",
        ),
        ("html_page.html", "application/xml", "not a feed: the server sent an HTML page"),
    ],
)
def test_an_html_page_is_not_a_feed(name, content_type, reason):
    with pytest.raises(FeedError) as caught:
        parse(name, headers={"content-type": content_type})
    assert str(caught.value).startswith(reason)


@pytest.mark.parametrize("body", [b"", b"   \n", b"just some words", b'{"json": true}'])
def test_other_non_feeds_are_refused_with_a_reason(body):
    with pytest.raises(FeedError) as caught:
        parse_feed(body, url="https://a.example/rss", headers={"content-type": "text/plain"})
    assert str(caught.value).startswith("not a feed")


def test_billion_laughs_expands_nothing():
    feed = parse("billion_laughs.xml")
    titles = [entry.title for entry in feed.entries]
    assert titles == ["Bomb &lol9;", "Biotech survives the bomb"]
    assert all(len(entry.summary) < 100 for entry in feed.entries)


def test_quadratic_blowup_expands_nothing():
    # One 20 KB entity referenced 5000 times would be 100 MB of text. feedparser on its
    # own passes such "safe" entities to its loose parser, which expands them.
    value = "A" * 20_000
    body = textwrap.dedent(
        f"""\
        <?xml version="1.0"?>
        <!DOCTYPE rss [
        <!ENTITY big "{value}">
        ]>
        <rss version="2.0"><channel><title>t</title>
        <item><title>x &undefined; {"&big;" * 5000}</title><link>https://a.example/1</link></item>
        </channel></rss>"""
    ).encode()
    feed = parse_feed(body, url="https://a.example/rss", headers=RSS)
    assert len(feed.entries) == 1
    assert len(feed.entries[0].title) <= 500
    assert "AAAA" not in feed.entries[0].title


def test_external_entities_are_never_fetched_or_read(tmp_path, feed_server):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    feed_server.add(
        "/evil.dtd", b'<!ENTITY leak "DTD-WAS-FETCHED">', content_type="application/xml-dtd"
    )
    body = (
        (DATA / "external_entity.xml")
        .read_bytes()
        .replace(b"SECRET_FILE_URL", secret.as_uri().encode())
        .replace(b"REMOTE_DTD_URL", feed_server.url("/evil.dtd").encode())
    )
    feed = parse_feed(body, url="https://xxe.example.org/rss", headers=RSS)
    text = " ".join(entry.title + entry.summary for entry in feed.entries)
    assert "TOP-SECRET-VALUE" not in text and "DTD-WAS-FETCHED" not in text
    assert feed.entries[0].title == "Leak: &secret;"
    assert not feed_server.requests


def test_doctype_removal_honours_quotes_and_comments():
    body = b'<?xml version="1.0"?>\n<!-- a comment with <!DOCTYPE inside -->\n<!DOCTYPE rss [ <!-- ] > --> <!ENTITY a "]>x"> ]>\n<rss/>'
    assert (
        strip_doctype(body)
        == b'<?xml version="1.0"?>\n<!-- a comment with <!DOCTYPE inside -->\n\n<rss/>'
    )
    plain = b"<rss><channel><title>&lt;!DOCTYPE&gt;</title></channel></rss>"
    assert strip_doctype(plain) == plain


def test_billion_laughs_parses_within_a_small_memory_budget(tmp_path):
    # In a child process capped at 512 MB of address space: an expansion would die.
    script = textwrap.dedent(
        f"""
        import resource
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (512 * 1024 * 1024, hard))
        from mailer.feeds.parse import parse_feed
        body = open({str(DATA / "billion_laughs.xml")!r}, "rb").read()
        feed = parse_feed(body, url="https://lol.example.org/rss", headers={{}})
        print(len(feed.entries))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"

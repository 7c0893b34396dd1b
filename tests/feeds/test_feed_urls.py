"""Issue 11 item 11: feed URLs are normalised and validated when they are added, never at poll time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailer import feeds
from mailer.errors import ConfigError, InvalidInputError
from mailer.feeds.feedlist import load_feed_list
from mailer.feeds.poll import poll_feeds
from tests.cli.test_feeds import make_cli, recent_feed

#: Every spelling of 127.0.0.1 that inet_aton (and so getaddrinfo) accepts.
LOOPBACK_SPELLINGS = [
    "http://0177.0.0.1/rss",
    "http://0x7f000001/rss",
    "http://0x7F.1/rss",
    "http://2130706433/rss",
    "http://127.1/rss",
    "http://0177.0.0.01/rss",
    "http://127.0.0.1./rss",
    "http://%31%32%37.0.0.1/rss",
    "HTTP://[::ffff:7f00:1]/rss",
]


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS)
def test_other_spellings_of_loopback_are_recognised_and_refused(make_context, url):
    ctx = make_context(allow_private=False)
    with pytest.raises(InvalidInputError, match="is a loopback address") as caught:
        feeds.add_feed(ctx, url)
    assert caught.value.field == "url"
    assert feeds.list_feeds(ctx) == []


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("http://0177.0.0.1/rss", "http://127.0.0.1/rss"),
        ("http://0x7f000001:8080/rss", "http://127.0.0.1:8080/rss"),
        ("http://2130706433/rss?a=1", "http://127.0.0.1/rss?a=1"),
        ("http://127.1/rss", "http://127.0.0.1/rss"),
        ("http://0xa.1.2.3/rss", "http://10.1.2.3/rss"),
        ("HTTPS://News.Example.ORG/Feed", "https://news.example.org/Feed"),
        ("https://news.example.org./rss", "https://news.example.org/rss"),
        ("http://[0:0::1]/rss", "http://[::1]/rss"),
        ("https://한국.kr/rss", "https://xn--3e0b707e.kr/rss"),
        ("https://BÜCHER.example/rss", "https://xn--bcher-kva.example/rss"),
    ],
)
def test_urls_are_stored_in_the_form_that_is_fetched(make_context, url, normalised):
    ctx = make_context(allow_private=True)
    assert feeds.add_feed(ctx, url).url == normalised


def test_idn_hosts_are_shown_readably(make_context):
    ctx = make_context()
    added = feeds.add_feed(ctx, "https://뉴스.한국.kr/rss")
    assert added.url == "https://xn--vg1b002a.xn--3e0b707e.kr/rss"
    assert added.display_url == "https://뉴스.한국.kr/rss"
    assert added.as_json()["display_url"] == "https://뉴스.한국.kr/rss"
    plain = feeds.add_feed(ctx, "https://news.example.org/rss")
    assert plain.display_url == plain.url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://user:pass@news.example.org/rss", "user name or password"),
        ("http://user@news.example.org/rss", "user name or password"),
        ("http://@news.example.org/rss", "user name or password"),
        ("javascript:alert(1)", "only http and https URLs"),
        ("file:///etc/passwd", "only http and https URLs"),
        ("//news.example.org/rss", "must start with http:// or https://"),
        ("http:///rss", "no host name"),
        ("http://:80/rss", "no host name"),
        ("http://news.example.org/my feed.xml", "spaces"),
        ("http://news example.org/rss", "spaces"),
        ("http://news.example.org/rss\x1b[31m", "control or invisible character"),
        ("http://news\u200b.example.org/rss", "control or invisible character"),
        ("http://[::1/rss", "not a valid URL"),
        ("http://news.example.org:99999/rss", "invalid port"),
        ("http://news.example.org:8o/rss", "invalid port"),
        ("http://0x100000000/rss", "not a valid IPv4 address"),
        ("http://256.1.1.1/rss", "not a valid IPv4 address"),
        ("http://1.2.3.4.5/rss", "not a valid IPv4 address"),
        ("http://09.1.1.1/rss", "not a valid IPv4 address"),
        ("http://exa<>mple.org/rss", "not a valid host name"),
        ("http://-bad-.example/rss", "not a valid host name"),
        ("http://xn--zz.com/rss", "not a valid host name"),  # an A-label that does not decode
        ("https://x.example/" + "a" * 2000, "longer than 2000 characters"),
    ],
)
def test_urls_that_can_never_be_fetched_are_refused(make_context, url, message):
    ctx = make_context(allow_private=True)
    with pytest.raises(InvalidInputError, match=message) as caught:
        feeds.add_feed(ctx, url)
    assert caught.value.field == "url"


def test_feeds_add_answers_one_line_and_a_usage_exit_code(tmp_path):
    cli = make_cli(tmp_path, f"sqlite:///{tmp_path / 'mailer.db'}")
    cases = {
        "http://0177.0.0.1/": "127.0.0.1 is a loopback address",
        "http://0x7f000001/": "127.0.0.1 is a loopback address",
        "http://2130706433/": "127.0.0.1 is a loopback address",
        "http://127.1/": "127.0.0.1 is a loopback address",
        "http://user:pass@news.example.org/": "user name or password",
        "http://[::1/": "not a valid URL",
        "http://news.example.org/a b": "spaces",
    }
    for url, message in cases.items():
        result = cli("feeds", "add", url, MAILER_FEEDS__ALLOW_PRIVATE="false")
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2, (url, result.stderr)
        assert len(lines) == 1 and message in lines[0], (url, result.stderr)
        assert "Traceback" not in result.stderr
    idn = cli("feeds", "add", "https://한국.kr/rss")
    assert idn.returncode == 0, idn.stderr
    assert idn.stdout.strip() == "added feed 1: https://xn--3e0b707e.kr/rss (https://한국.kr/rss)"
    listed = cli("feeds", "list")
    assert "https://xn--3e0b707e.kr/rss (https://한국.kr/rss)" in listed.stdout


async def test_a_normalised_feed_is_polled_from_the_address_it_spells(make_context, feed_server):
    # allow_private: the test server is on loopback. The octal spelling reaches it as
    # 127.0.0.1, exactly as it is stored.
    ctx = make_context(allow_private=True)
    url = feed_server.add("/rss", recent_feed("t", [("바이오 신약", "https://bio.example.kr/1")]))
    octal = url.replace("127.0.0.1", "0177.0.0.1")
    added = feeds.add_feed(ctx, octal)
    assert added.url == url
    assert feeds.get_feed(ctx, octal) == added  # staff may name it as they typed it
    [result] = await poll_feeds(ctx, now=datetime.now(UTC) + timedelta(seconds=1))
    assert (result.url, str(result.status), result.new) == (url, "ok", 1)
    assert feed_server.requests[-1].path == "/rss"


def test_the_feed_list_file_is_normalised_and_checked_the_same_way(tmp_path: Path):
    path = tmp_path / "feeds.toml"
    path.write_text(
        '[[feed]]\nname = "한국"\nurl = "HTTPS://한국.kr/rss"\n\n'
        '[[feed]]\nname = "octal"\nurl = "http://0177.0.0.1/rss"\n',
        encoding="utf-8",
    )
    assert [feed["url"] for feed in load_feed_list(path)] == [
        "https://xn--3e0b707e.kr/rss",
        "http://127.0.0.1/rss",
    ]
    path.write_text(
        '[[feed]]\nname = "x"\nurl = "http://admin:secret@news.example.org/rss"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"feed 1 \(x\): .*user name or password"):
        load_feed_list(path)

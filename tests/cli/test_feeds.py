"""``mailer feeds …`` as a new user runs it: add, list, poll (exact JSON shape), remove; init seeding."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import create_engine, func, select

from mailer.store.tables import editions
from tests.helpers import cli_env, run_cli


def recent_feed(title: str, items: list[tuple[str, str]]) -> bytes:
    """An RSS document whose items were published an hour ago (real time: the CLI uses now)."""
    stamp = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    entries = "".join(
        f"<item><title>{heading}</title><link>{link}</link><pubDate>{stamp}</pubDate></item>"
        for heading, link in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"{entries}</channel></rss>"
    ).encode()


def make_cli(tmp_path, database_url):
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "feeds.toml").write_text("")
    env = cli_env(
        MAILER_DATABASE_URL=database_url,
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_CONFIG_DIR=str(config_dir),
        MAILER_FEEDS__ALLOW_PRIVATE="true",
        MAILER_FEEDS__TIMEOUT="2",
    )

    def run(*args: str, **extra: str):
        return run_cli(*args, env={**env, **extra}, cwd=tmp_path)

    run.config_dir = config_dir
    run.env = env
    assert run("init").returncode == 0
    return run


@pytest.fixture
def cli(tmp_path, database_url):
    """Run ``mailer`` in a subprocess on each backend, with a test feeds.toml."""
    return make_cli(tmp_path, database_url)


@pytest.fixture
def sqlite_cli(tmp_path):
    """The same on SQLite only, for input checks that never reach the database backend."""
    return make_cli(tmp_path, f"sqlite:///{tmp_path / 'mailer.db'}")


def test_a_new_user_adds_polls_and_removes_feeds(cli, feed_server):
    good = feed_server.add(
        "/bio.xml",
        recent_feed("바이오 뉴스", [("셀트리온 신약 임상 3상 성공", "https://bio.example.kr/1")]),
    )
    html = feed_server.add("/page", b"<html><body>nope</body></html>", content_type="text/html")
    added = cli("feeds", "add", good, "--name", "바이오 뉴스", "--keywords", "항암, ADC")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added feed 1: ")
    assert cli("feeds", "add", html).returncode == 0

    listed = json.loads(cli("feeds", "list", "--json").stdout)
    assert [(feed["name"], feed["url"], feed["enabled"]) for feed in listed] == [
        ("바이오 뉴스", good, True),
        ("", html, True),
    ]
    assert listed[0]["include_keywords"] == ["항암", "ADC"]
    assert listed[0]["last_status"] is None

    first = cli("feeds", "poll", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == [
        {"url": good, "status": "ok", "new": 1, "error": None},
        {
            "url": html,
            "status": "error",
            "new": 0,
            "error": "not a feed: the server sent an HTML page (text/html)",
        },
    ]
    # The second poll: the good feed is unchanged, the broken one waits out its backoff.
    second = json.loads(cli("feeds", "poll", "--json").stdout)
    assert second == [{"url": good, "status": "not_modified", "new": 0, "error": None}]

    removed = cli("feeds", "remove", good)
    assert removed.returncode == 0 and "removed feed 1" in removed.stdout
    assert [feed["url"] for feed in json.loads(cli("feeds", "list", "--json").stdout)] == [html]


def test_human_output_backoff_and_enable_disable(sqlite_cli, feed_server):
    cli = sqlite_cli
    url = feed_server.add("/rss", recent_feed("t", [("Biotech news", "https://x.example/1")]))
    broken = feed_server.url("/broken")
    feed_server.set_status("/broken", 503, {"Retry-After": "600"})
    cli("feeds", "add", url)
    cli("feeds", "add", broken)
    polled = cli("feeds", "poll")
    assert f"{url}  ok, 1 new" in polled.stdout
    assert f"{broken}  error: HTTP 503 Service Unavailable; retry after 600 s" in polled.stdout
    assert "2 feeds polled: 1 ok, 0 not modified, 1 failed; 1 new items" in polled.stdout
    human = cli("feeds", "list")
    assert "1 failures in a row" in human.stdout and "next try" in human.stdout
    assert "error: HTTP 503" in human.stdout
    again = cli("feeds", "poll")
    assert f"{url}  not modified" in again.stdout
    assert "1 feed waiting after earlier failures was not polled" in again.stdout
    forced = json.loads(cli("feeds", "poll", "--all", "--json").stdout)
    assert [item["url"] for item in forced] == [url, broken]

    assert cli("feeds", "disable", "1").returncode == 0
    assert [item["url"] for item in json.loads(cli("feeds", "poll", "--all", "--json").stdout)] == [
        broken
    ]
    enabled = cli("feeds", "enable", broken)
    assert enabled.returncode == 0 and "enabled feed 2" in enabled.stdout
    listed = {feed["url"]: feed for feed in json.loads(cli("feeds", "list", "--json").stdout)}
    assert listed[broken]["next_attempt_at"] is None and listed[url]["enabled"] is False


def test_bad_input_is_one_clear_line(sqlite_cli):
    cli = sqlite_cli
    cases = [
        (("feeds", "add", "ftp://feeds.example.org/rss"), {}, 2, "only http and https URLs"),
        (("feeds", "add", "not a url"), {}, 2, "must start with http:// or https://"),
        (("feeds", "remove", "999"), {}, 1, "feed 999 not found"),
        (
            ("feeds", "remove", "https://x.example/[/]"),
            {},
            1,
            "feed https://x.example/[/] not found",
        ),
        (("feeds", "enable", "https://nowhere.example.org/rss"), {}, 1, "not found"),
        (
            ("feeds", "add", "http://127.0.0.1:9/rss"),
            {"MAILER_FEEDS__ALLOW_PRIVATE": "false"},
            2,
            "127.0.0.1 is a loopback address",
        ),
    ]
    for args, env, code, message in cases:
        result = cli(*args, **env)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == code, (args, result.stderr)
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)
    assert cli("feeds", "add", "https://feeds.example.org/rss").returncode == 0
    again = cli("feeds", "add", "https://feeds.example.org/rss")
    assert again.returncode == 2 and "registered already" in again.stderr


def test_init_seeds_configured_feeds_once_and_respects_removal(cli):
    cli.config_dir.joinpath("feeds.toml").write_text(
        '[[feed]]\nname = "히트뉴스"\nurl = "https://www.hitnews.co.kr/rss/allArticle.xml"\n\n'
        '[[feed]]\nname = "STAT"\nurl = "https://www.statnews.com/feed/"\nkeywords = ["biotech"]\n',
        encoding="utf-8",
    )
    first = cli("init")
    assert "seeded feed https://www.hitnews.co.kr/rss/allArticle.xml" in first.stdout
    listed = json.loads(cli("feeds", "list", "--json").stdout)
    assert [(feed["name"], feed["include_keywords"]) for feed in listed] == [
        ("히트뉴스", []),
        ("STAT", ["biotech"]),
    ]
    cli("feeds", "remove", "https://www.statnews.com/feed/")
    second = cli("init")
    assert "nothing to change" in second.stdout
    assert [feed["name"] for feed in json.loads(cli("feeds", "list", "--json").stdout)] == [
        "히트뉴스"
    ]


def test_a_broken_feeds_file_stops_init_with_one_line(sqlite_cli):
    cli = sqlite_cli
    cli.config_dir.joinpath("feeds.toml").write_text('[[feed]]\nname = "x"\nurl = "gopher://x"\n')
    result = cli("init")
    assert result.returncode == 2
    assert "feeds.toml: feed 1 (x): only http and https URLs" in result.stderr


def test_feeds_list_loads_neither_httpx_nor_feedparser(sqlite_cli, tmp_path):
    # Listing reads the store only; the HTTP client and the parser are the poll's.
    assert sqlite_cli("feeds", "add", "https://feeds.example.org/rss").returncode == 0
    script = textwrap.dedent(
        """
        import sys
        from mailer.cli.main import app
        try:
            app(["feeds", "list", "--json"])
        except SystemExit as exit:
            assert not exit.code, exit.code
        heavy = sorted({"httpx", "httpcore", "feedparser"} & set(sys.modules))
        print("loaded:", ",".join(heavy), file=sys.stderr)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=sqlite_cli.env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["url"] == "https://feeds.example.org/rss"
    assert result.stderr.strip().splitlines()[-1] == "loaded:", result.stderr


def test_an_offline_install_hears_one_story_from_poll_and_from_digest_send(cli, database_url):
    """Issue 15 item 2: every feed failing is a failure (exit 1), told once, and no edition is
    made from feeds nobody polled yet."""
    with socket.socket() as closed:  # bound, never listening: every connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        urls = [f"http://127.0.0.1:{port}/feed{n}.xml" for n in range(3)]
        for url in urls:
            assert cli("feeds", "add", url).returncode == 0

        refused = cli("digest", "send")
        assert refused.returncode == 1
        assert "no feed has been polled yet (3 registered)" in refused.stderr
        assert "mailer feeds poll" in refused.stderr
        assert cli("digest", "send", "--dry-run").returncode == 1
        engine = create_engine(database_url)
        try:
            with engine.connect() as conn:
                assert conn.execute(select(func.count()).select_from(editions)).scalar_one() == 0
        finally:
            engine.dispose()

        polled = cli("feeds", "poll")
        assert polled.returncode == 1
        assert "3 feeds polled: 0 ok, 0 not modified, 3 failed; 0 new items" in polled.stdout
        assert "not polled" not in polled.stdout  # the feeds just tried are not "waiting"
        assert "every feed polled failed" in polled.stderr

        again = cli("feeds", "poll")
        assert again.returncode == 0  # nothing was due: nothing failed
        assert "no feed is due: 3 feeds waiting after failures" in again.stdout
        assert "polled:" not in again.stdout

        forced = cli("feeds", "poll", "--all", "--json")
        assert forced.returncode == 1
        assert [item["status"] for item in json.loads(forced.stdout)] == ["error"] * 3

    # Polled once (if in vain), digest send goes on: the edition is skipped for want of news.
    sent = cli("digest", "send", "--dry-run")
    assert sent.returncode == 0, sent.stderr
    assert "dry run" in sent.stdout


def test_poll_succeeds_when_some_feeds_fail(sqlite_cli, feed_server):
    good = feed_server.add("/rss", recent_feed("t", [("Biotech news", "https://x.example/1")]))
    broken = feed_server.url("/broken")
    feed_server.set_status("/broken", 500)
    sqlite_cli("feeds", "add", good)
    sqlite_cli("feeds", "add", broken)
    polled = sqlite_cli("feeds", "poll")
    assert polled.returncode == 0
    assert "2 feeds polled: 1 ok, 0 not modified, 1 failed; 1 new items" in polled.stdout
    assert "every feed polled failed" not in polled.stderr

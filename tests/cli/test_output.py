"""Issue 11 item 4: whatever outside text is stored, the CLI prints no control or bidi characters
and no Rich markup of it is interpreted; the digest's render path cleans old stories too."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, insert

from mailer.store.db import write_transaction
from mailer.store.tables import feeds, subscribers
from mailer.unsafe_text import find_unsafe
from tests.cli.test_feeds import make_cli
from tests.digest_data import add_story

#: Stored before the poll step cleaned feed text (or written by another tool).
HOSTILE = "\x1b]0;pwned\x07\x1b[31m[bold red]가짜[/bold red]\u202e뉴스\u200b\x9b2J"

NO_SEMINAR = {"MAILER_DIGEST__SEMINAR_FILE": ""}


def _store_hostile_rows(database_url: str) -> None:
    engine = create_engine(database_url)
    now = datetime.now(UTC)
    with write_transaction(engine) as conn:
        conn.execute(
            insert(feeds).values(name=HOSTILE, url="https://news.example.kr/rss", created_at=now)
        )
        add_story(
            conn,
            "hostile-1",
            title=f"{HOSTILE} 바이오 신약 임상 승인",
            summary=f"<p>요약 {HOSTILE}</p>",
            source=HOSTILE,
            url="https://news.example.kr/a/1",
            relevance=10,
            age=timedelta(hours=2),
            now=now,
        )
        conn.execute(
            insert(subscribers).values(
                email="eve@example.kr",
                name=HOSTILE,
                organisation="[link=http://evil.example]회사[/link]",
                status="active",
                token_seed="s" * 32,
                token_hash="h" * 64,
                attributes={},
                source="web",
                created_at=now,
            )
        )
    engine.dispose()


def _assert_printable(result) -> None:
    for stream in (result.stdout, result.stderr):
        assert find_unsafe(stream, allow="\n") is None, repr(stream)


def test_every_command_that_prints_outside_text_escapes_it(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'mailer.db'}"
    cli = make_cli(tmp_path, database_url)
    _store_hostile_rows(database_url)
    runs = {
        "feeds list": cli("feeds", "list"),
        "feeds list --json": cli("feeds", "list", "--json"),
        "subscribers list": cli("subscribers", "list", COLUMNS="400"),
        "subscribers list --json": cli("subscribers", "list", "--json"),
        "digest preview text": cli("digest", "preview", "-f", "text", **NO_SEMINAR),
        "digest preview json": cli("digest", "preview", "-f", "json", **NO_SEMINAR),
        "digest preview html": cli("digest", "preview", "-f", "html", **NO_SEMINAR),
    }
    for name, result in runs.items():
        assert result.returncode == 0, (name, result.stderr)
        _assert_printable(result)

    # What staff see is what is stored, control characters as visible escapes, markup as text.
    listed = runs["feeds list"].stdout
    assert "\\x1b]0;pwned\\x07\\x1b[31m[bold red]가짜[/bold red]\\u202e뉴스\\u200b\\x9b2J" in listed
    table = runs["subscribers list"].stdout
    assert "[link=http://evil.example]회사[/link]" in table and "\\u202e" in table
    # JSON keeps the exact stored value: the escapes are JSON's own, so a script reads it back.
    [feed] = json.loads(runs["feeds list --json"].stdout)
    assert feed["name"] == HOSTILE
    [person] = json.loads(runs["subscribers list --json"].stdout)
    assert person["name"] == HOSTILE

    # The render path cleans stories stored before the poll step did: nothing to escape there.
    preview = json.loads(runs["digest preview json"].stdout)
    assert find_unsafe(preview["subject"]) is None
    [story] = preview["stories"]
    for field in ("title", "source", "summary"):
        assert find_unsafe(story[field]) is None, field
    assert "가짜" in story["title"] and "바이오 신약 임상 승인" in story["title"]
    assert "\\x1b" not in runs["digest preview text"].stdout  # cleaned, not merely escaped
    assert "바이오 신약 임상 승인" in runs["digest preview text"].stdout

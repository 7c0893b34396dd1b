"""The feed catalog use cases the CLI and the admin share: add, list, edit, enable, disable, remove."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import func, select

from mailer import feeds
from mailer.errors import InvalidInputError, NotFoundError
from mailer.store import feeds as feed_store
from mailer.store.db import write_transaction
from mailer.store.tables import audit_log, stories


@pytest.fixture
def ctx(make_context):
    return make_context()


def audit_actions(ctx):
    with ctx.engine.connect() as conn:
        return [
            (action, actor)
            for action, actor in conn.execute(
                select(audit_log.c.action, audit_log.c.actor).order_by(audit_log.c.id)
            )
        ]


def test_add_checks_and_normalises_its_input(ctx):
    added = feeds.add_feed(
        ctx,
        "  https://news.example.org/rss  ",
        name="  바이오 뉴스 ",
        keywords=["항암, ADC", "ADC"],
        exclude="광고,  이벤트",
        actor="staff:kim",
    )
    assert isinstance(added, feeds.FeedView)
    assert (added.url, added.name, added.enabled, added.stories) == (
        "https://news.example.org/rss",
        "바이오 뉴스",
        True,
        0,
    )
    assert added.include_keywords == ("항암", "ADC")
    assert added.exclude_keywords == ("광고", "이벤트")
    assert feeds.list_feeds(ctx) == [added]
    assert feeds.get_feed(ctx, added.id) == feeds.get_feed(ctx, str(added.id)) == added
    assert feeds.get_feed(ctx, added.url) == added
    assert audit_actions(ctx) == [("feed.added", "staff:kim")]
    assert added.as_json()["include_keywords"] == ["항암", "ADC"]


@pytest.mark.parametrize(
    ("url", "field", "message"),
    [
        ("ftp://feeds.example.org/rss", "url", "only http and https URLs"),
        ("not a url", "url", "must start with http:// or https://"),
        ("https:///rss", "url", "no host name"),
        ("https://x.example/" + "a" * 2000, "url", "longer than 2000 characters"),
        ("http://127.0.0.1:9/rss", "url", "127.0.0.1 is a loopback address"),
        ("http://[::1]/rss", "url", "::1 is a loopback address"),
        ("http://10.1.2.3/rss", "url", "10.1.2.3 is a private address"),
    ],
)
def test_a_feed_that_can_never_be_fetched_is_refused(make_context, url, field, message):
    ctx = make_context(allow_private=False)
    with pytest.raises(InvalidInputError, match=message) as caught:
        feeds.add_feed(ctx, url)
    assert caught.value.field == field
    assert feeds.list_feeds(ctx) == []


def test_allowed_networks_and_host_names_pass_registration(make_context):
    ctx = make_context(allow_private=False, allow_networks=["10.1.2.0/24"])
    assert feeds.add_feed(ctx, "http://10.1.2.3/rss").url == "http://10.1.2.3/rss"
    # A host name is checked after DNS at every fetch, not here.
    assert feeds.add_feed(ctx, "http://localhost/rss").url == "http://localhost/rss"
    assert feeds.check_feed_url(" https://a.example/ ", settings=ctx.settings.feeds) == (
        "https://a.example/"
    )


def test_names_and_duplicates_are_refused_with_their_field(ctx):
    with pytest.raises(InvalidInputError, match="longer than 200") as caught:
        feeds.add_feed(ctx, "https://a.example/rss", name="x" * 201)
    assert caught.value.field == "name"
    feeds.add_feed(ctx, "https://a.example/rss")
    with pytest.raises(InvalidInputError, match="registered already") as caught:
        feeds.add_feed(ctx, "https://a.example/rss")
    assert caught.value.field == "url"
    assert feeds.check_feed_name(None) == ""


def test_edit_changes_only_what_is_given(ctx):
    feed = feeds.add_feed(ctx, "https://a.example/rss", name="A", keywords=["ADC"])
    renamed = feeds.edit_feed(ctx, feed.id, name=" B ", exclude=["광고"])
    assert (renamed.name, renamed.url, renamed.include_keywords, renamed.exclude_keywords) == (
        "B",
        feed.url,
        ("ADC",),
        ("광고",),
    )
    assert feeds.edit_feed(ctx, feed.id) == renamed
    cleared = feeds.edit_feed(ctx, feed.url, keywords=[])
    assert cleared.include_keywords == ()
    assert [action for action, _ in audit_actions(ctx)] == [
        "feed.added",
        "feed.edited",
        "feed.edited",
    ]


def test_a_new_url_is_checked_and_starts_afresh(make_context):
    ctx = make_context(allow_private=False)
    feed = feeds.add_feed(ctx, "https://a.example/rss")
    other = feeds.add_feed(ctx, "https://b.example/rss")
    now = datetime.now(UTC)
    with write_transaction(ctx.engine) as conn:
        feed_store.record_fetched(
            conn, feed.id, now=now, status="ok", etag='"v1"', update_validators=True
        )
        feed_store.record_failure(
            conn, feed.id, now=now, error="HTTP 503", next_attempt_at=now + timedelta(hours=1)
        )
    with pytest.raises(InvalidInputError, match="registered already") as caught:
        feeds.edit_feed(ctx, feed.id, url=other.url)
    assert caught.value.field == "url"
    with pytest.raises(InvalidInputError, match="loopback") as caught:
        feeds.edit_feed(ctx, feed.id, url="http://127.0.0.1/rss")
    assert caught.value.field == "url"
    moved = feeds.edit_feed(ctx, feed.id, url="https://a.example/feed.xml")
    assert moved.url == "https://a.example/feed.xml"
    assert (moved.consecutive_failures, moved.next_attempt_at) == (0, None)
    with ctx.engine.connect() as conn:
        row = feed_store.get_feed(conn, feed.id)
    assert (row["etag"], row["last_modified"]) == (None, None)


def test_disable_enable_and_missing_feeds(ctx):
    feed = feeds.add_feed(ctx, "https://a.example/rss")
    now = datetime.now(UTC)
    with write_transaction(ctx.engine) as conn:
        feed_store.record_failure(
            conn, feed.id, now=now, error="HTTP 500", next_attempt_at=now + timedelta(hours=1)
        )
    assert feeds.disable_feed(ctx, feed.id).enabled is False
    enabled = feeds.enable_feed(ctx, feed.url)
    assert enabled.enabled is True
    assert (enabled.consecutive_failures, enabled.next_attempt_at) == (0, None)
    for call in (feeds.get_feed, feeds.enable_feed, feeds.disable_feed, feeds.remove_feed):
        with pytest.raises(NotFoundError, match="feed 999 not found"):
            call(ctx, 999)
    with pytest.raises(NotFoundError):
        feeds.edit_feed(ctx, "https://nowhere.example/rss", name="x")


async def test_removing_a_feed_keeps_its_stories(ctx, feed_server):
    stamp = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    url = feed_server.add(
        "/rss",
        (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            f"<item><title>신약 임상 3상 성공</title><link>https://x.example/1</link>"
            f"<pubDate>{stamp}</pubDate></item></channel></rss>"
        ).encode(),
    )
    feed = feeds.add_feed(ctx, url)
    [result] = await feeds.poll_feeds(ctx)
    assert result.new == 1
    assert feeds.get_feed(ctx, feed.id).stories == 1
    removed = feeds.remove_feed(ctx, feed.id)
    assert (removed.id, removed.url, removed.stories) == (feed.id, url, 1)
    assert feeds.list_feeds(ctx) == []
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(stories)).scalar_one() == 1

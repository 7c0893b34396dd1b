"""``mailer feeds …``: register, list, remove, enable/disable and poll news feeds."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import typer

from mailer.cli.runtime import handle_errors, out_console, runtime
from mailer.errors import FeedError, InvalidInputError
from mailer.feeds.netguard import check_url, parse_networks, refusal
from mailer.feeds.poll import poll_feeds, summarise
from mailer.feeds.relevance import parse_keyword_list
from mailer.store import feeds as feed_store

app = typer.Typer(
    name="feeds",
    help="Manage and poll news feeds.",
    no_args_is_help=True,
    add_completion=False,
)

KEYWORDS_HELP = (
    "Extra keywords that make this feed's stories relevant (comma-separated or repeated)."
)
EXCLUDE_HELP = (
    "Keywords that keep this feed's stories out of the digest (comma-separated or repeated)."
)


@app.command("add")
@handle_errors
def add(
    ctx: typer.Context,
    url: str = typer.Argument(..., help="The feed's RSS or Atom address (http or https)."),
    name: str = typer.Option(
        None, "--name", help="Source name shown in the digest (default: the feed's title)."
    ),
    keywords: list[str] = typer.Option(None, "--keywords", help=KEYWORDS_HELP),
    exclude: list[str] = typer.Option(None, "--exclude", help=EXCLUDE_HELP),
) -> None:
    """Register a feed; it is fetched at the next poll."""
    context = runtime(ctx).context
    url = _valid_feed_url(url, context.settings)
    name = (name or "").strip()
    if len(name) > 200:
        raise InvalidInputError("the name is longer than 200 characters", field="name")
    with context.engine.begin() as conn:
        feed = feed_store.add_feed(
            conn,
            url,
            name=name,
            include_keywords=parse_keyword_list(keywords),
            exclude_keywords=parse_keyword_list(exclude),
            now=datetime.now(UTC),
        )
    out_console.print(f"added feed {feed['id']}: {feed['url']}", soft_wrap=True, markup=False)


@app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """Show every feed with its last poll outcome, failures and next attempt."""
    context = runtime(ctx).context
    with context.engine.connect() as conn:
        rows = feed_store.list_feeds(conn)
        counts = feed_store.story_counts(conn)
    items = [_feed_json(row, counts.get(row["id"], 0)) for row in rows]
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    if not items:
        out_console.print("no feeds yet — add one with `mailer feeds add URL`")
        return
    for item in items:
        state = "enabled" if item["enabled"] else "disabled"
        status = item["last_status"] or "never polled"
        line = f"{item['id']:>4}  {state:<8}  {status:<12}  {item['name'] or '(name from feed)'}  {item['url']}"
        out_console.print(line, soft_wrap=True, markup=False)
        details = [f"{item['stories']} stories"]
        if item["consecutive_failures"]:
            details.append(f"{item['consecutive_failures']} failures in a row")
        if item["next_attempt_at"]:
            details.append(f"next try {item['next_attempt_at']}")
        if item["include_keywords"]:
            details.append("keywords: " + ", ".join(item["include_keywords"]))
        if item["exclude_keywords"]:
            details.append("exclude: " + ", ".join(item["exclude_keywords"]))
        out_console.print("        " + "; ".join(details), soft_wrap=True, markup=False)
        if item["last_error"]:
            out_console.print(f"        error: {item['last_error']}", soft_wrap=True, markup=False)


@app.command("remove")
@handle_errors
def remove(
    ctx: typer.Context,
    feed: str = typer.Argument(..., help="The feed's id or URL."),
) -> None:
    """Remove a feed (stories it delivered stay in the archive)."""
    context = runtime(ctx).context
    with context.engine.begin() as conn:
        removed = feed_store.remove_feed(conn, feed, now=datetime.now(UTC))
    out_console.print(
        f"removed feed {removed['id']}: {removed['url']}", soft_wrap=True, markup=False
    )


@app.command("enable")
@handle_errors
def enable(
    ctx: typer.Context,
    feed: str = typer.Argument(..., help="The feed's id or URL."),
) -> None:
    """Enable a feed again (also clears its backoff, so the next poll tries it)."""
    _set_enabled(ctx, feed, enabled=True)


@app.command("disable")
@handle_errors
def disable(
    ctx: typer.Context,
    feed: str = typer.Argument(..., help="The feed's id or URL."),
) -> None:
    """Stop polling a feed without removing it."""
    _set_enabled(ctx, feed, enabled=False)


@app.command("poll")
@handle_errors
def poll(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per feed."),
    all_: bool = typer.Option(
        False, "--all", help="Also poll feeds that are waiting after failures."
    ),
) -> None:
    """Fetch every enabled feed that is due now and store new stories."""
    context = runtime(ctx).context
    now = datetime.now(UTC)
    results = asyncio.run(poll_feeds(context, now=now, only_due=not all_))
    if as_json:
        typer.echo(
            json.dumps([result.as_json() for result in results], ensure_ascii=False, indent=2)
        )
        return
    for result in results:
        if str(result.status) == "ok":
            outcome = f"ok, {result.new} new"
        elif str(result.status) == "not_modified":
            outcome = "not modified"
        else:
            outcome = f"error: {result.error}"
        out_console.print(f"{result.url}  {outcome}", soft_wrap=True, markup=False)
    totals = summarise(results)
    out_console.print(
        f"{totals['feeds']} feeds polled: {totals['ok']} ok, {totals['not_modified']} not modified, "
        f"{totals['error']} failed; {totals['new']} new items"
    )
    if not all_:
        with context.engine.connect() as conn:
            waiting = feed_store.count_waiting(conn, now=now)
        if waiting:
            out_console.print(
                f"{waiting} feeds waiting after failures were not polled (`--all` polls them too)"
            )


def _set_enabled(ctx: typer.Context, key: str, *, enabled: bool) -> None:
    context = runtime(ctx).context
    with context.engine.begin() as conn:
        feed = feed_store.set_enabled(conn, key, enabled=enabled, now=datetime.now(UTC))
    word = "enabled" if enabled else "disabled"
    out_console.print(f"{word} feed {feed['id']}: {feed['url']}", soft_wrap=True, markup=False)


def _valid_feed_url(url: str, settings) -> str:
    """Refuse a URL that can never be fetched; host names are checked again at every fetch."""
    try:
        url = check_url(url)
    except FeedError as exc:
        raise InvalidInputError(str(exc), field="url") from None
    if len(url) > 2000:
        raise InvalidInputError("the URL is longer than 2000 characters", field="url")
    host = urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return url
    if not settings.feeds.allow_private:
        reason = refusal(address, allowed=parse_networks(settings.feeds.allow_networks))
        if reason:
            raise InvalidInputError(
                f"refused: {host} is {reason} (set MAILER_FEEDS__ALLOW_PRIVATE=true to allow it)",
                field="url",
            )
    return url


def _feed_json(row: dict[str, Any], stories: int) -> dict[str, Any]:
    def stamp(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": row["id"],
        "name": row["name"],
        "url": row["url"],
        "enabled": bool(row["enabled"]),
        "include_keywords": list(row["include_keywords"] or []),
        "exclude_keywords": list(row["exclude_keywords"] or []),
        "last_status": row["last_status"],
        "last_error": row["last_error"],
        "consecutive_failures": row["consecutive_failures"] or 0,
        "next_attempt_at": stamp(row["next_attempt_at"]),
        "last_polled_at": stamp(row["last_polled_at"]),
        "stories": stories,
    }

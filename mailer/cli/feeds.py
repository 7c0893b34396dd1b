"""``mailer feeds …``: register, list, remove, enable/disable and poll news feeds.

Arguments in, the feed catalog's and the poll step's functions called, their
results printed. Imports of the step are lazy (through ``mailer.feeds``' public
names), so ``mailer feeds list`` loads neither httpx nor feedparser.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import typer

from mailer import feeds
from mailer.cli.output import json_text, say
from mailer.cli.runtime import handle_errors, out_console, runtime

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
    feed = feeds.add_feed(runtime(ctx).context, url, name=name, keywords=keywords, exclude=exclude)
    _report("added", feed)


@app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """Show every feed with its last poll outcome, failures and next attempt."""
    items = [feed.as_json() for feed in feeds.list_feeds(runtime(ctx).context)]
    if as_json:
        typer.echo(json_text(items))
        return
    if not items:
        out_console.print("no feeds yet — add one with `mailer feeds add URL`")
        return
    for item in items:
        state = "enabled" if item["enabled"] else "disabled"
        status = item["last_status"] or "never polled"
        shown_url = item["url"]
        if item["display_url"] != item["url"]:
            shown_url += f" ({item['display_url']})"
        say(
            f"{item['id']:>4}  {state:<8}  {status:<12}  {item['name'] or '(name from feed)'}  {shown_url}"
        )
        details = [f"{item['stories']} stories"]
        if item["consecutive_failures"]:
            details.append(f"{item['consecutive_failures']} failures in a row")
        if item["next_attempt_at"]:
            details.append(f"next try {item['next_attempt_at']}")
        if item["include_keywords"]:
            details.append("keywords: " + ", ".join(item["include_keywords"]))
        if item["exclude_keywords"]:
            details.append("exclude: " + ", ".join(item["exclude_keywords"]))
        say("        " + "; ".join(details))
        if item["last_error"]:
            say(f"        error: {item['last_error']}")
        for warning in item["warnings"]:
            say(f"        warning: {warning}")


@app.command("remove")
@handle_errors
def remove(
    ctx: typer.Context,
    feed: str = typer.Argument(..., help="The feed's id or URL."),
) -> None:
    """Remove a feed (stories it delivered stay in the archive)."""
    removed = feeds.remove_feed(runtime(ctx).context, feed)
    _report("removed", removed)


@app.command("enable")
@handle_errors
def enable(
    ctx: typer.Context,
    feed: str = typer.Argument(..., help="The feed's id or URL."),
) -> None:
    """Enable a feed again (also clears its backoff, so the next poll tries it)."""
    enabled = feeds.enable_feed(runtime(ctx).context, feed)
    _report("enabled", enabled)


@app.command("disable")
@handle_errors
def disable(
    ctx: typer.Context,
    feed: str = typer.Argument(..., help="The feed's id or URL."),
) -> None:
    """Stop polling a feed without removing it."""
    disabled = feeds.disable_feed(runtime(ctx).context, feed)
    _report("disabled", disabled)


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
    results = asyncio.run(feeds.poll_feeds(context, now=now, only_due=not all_))
    if as_json:
        typer.echo(json_text([result.as_json() for result in results]))
        return
    for result in results:
        if str(result.status) == "ok":
            outcome = f"ok, {result.new} new"
            if result.warnings:
                count = len(result.warnings)
                outcome += (
                    f", {count} warning{'s' if count > 1 else ''} (`mailer feeds list` shows them)"
                )
        elif str(result.status) == "not_modified":
            outcome = "not modified"
        else:
            outcome = f"error: {result.error}"
        say(f"{result.url}  {outcome}")
    totals = feeds.summarise(results)
    out_console.print(
        f"{totals['feeds']} feeds polled: {totals['ok']} ok, {totals['not_modified']} not modified, "
        f"{totals['error']} failed; {totals['new']} new items"
    )
    if not all_:
        waiting = feeds.count_waiting(context, now=now)
        if waiting:
            out_console.print(
                f"{waiting} feeds waiting after failures were not polled (`--all` polls them too)"
            )


def _report(done: str, feed: feeds.FeedView) -> None:
    readable = f" ({feed.display_url})" if feed.display_url != feed.url else ""
    say(f"{done} feed {feed.id}: {feed.url}{readable}")

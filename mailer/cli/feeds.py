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
from mailer.cli.runtime import EXIT_FAILED, handle_errors, out_console, runtime
from mailer.models import FeedPollResult

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
    """Fetch every enabled feed that is due now and store new stories.

    Exits 1 when feeds were due and every one of them failed (a network that is down,
    say): nothing new came in, and a script or cron job should notice.
    """
    context = runtime(ctx).context
    now = datetime.now(UTC)
    # Counted before the poll: afterwards, every feed that fails now is waiting too,
    # and the summary would call the feeds just tried "not polled" (issue 15 item 2).
    waiting = 0 if all_ else feeds.count_waiting(context, now=now)
    results = asyncio.run(feeds.poll_feeds(context, now=now, only_due=not all_))
    if as_json:
        typer.echo(json_text([result.as_json() for result in results]))
    else:
        _print_poll(results, waiting=waiting)
    totals = feeds.summarise(results)
    if totals["feeds"] and totals["error"] == totals["feeds"]:
        raise typer.Exit(EXIT_FAILED)


def _print_poll(results: list[FeedPollResult], *, waiting: int) -> None:
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
    later = "(`--all` polls them now)"
    if not totals["feeds"]:
        if waiting:
            out_console.print(f"no feed is due: {_feeds(waiting)} waiting after failures {later}")
        else:
            out_console.print("no feed is due (`mailer feeds list` shows them)")
        return
    out_console.print(
        f"{_feeds(totals['feeds'])} polled: {totals['ok']} ok, {totals['not_modified']} not "
        f"modified, {totals['error']} failed; {totals['new']} new items"
    )
    if totals["error"] == totals["feeds"]:
        say(
            "every feed polled failed, so no news came in: check this machine's internet "
            "connection and the errors above; each feed is tried again after a wait "
            "(`mailer feeds list` shows when), or now with `mailer feeds poll --all`",
            err=True,
        )
    if waiting:
        were = "was" if waiting == 1 else "were"
        out_console.print(
            f"{_feeds(waiting)} waiting after earlier failures {were} not polled "
            "(`--all` polls them too)"
        )


def _feeds(count: int) -> str:
    return f"{count} feed" if count == 1 else f"{count} feeds"


def _report(done: str, feed: feeds.FeedView) -> None:
    readable = f" ({feed.display_url})" if feed.display_url != feed.url else ""
    say(f"{done} feed {feed.id}: {feed.url}{readable}")

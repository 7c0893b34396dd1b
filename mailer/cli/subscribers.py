"""`mailer subscribers …`: import, export, list, add, remove, erase, and signup material for posters."""

from __future__ import annotations

import asyncio
import csv
import sys
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mailer import delivery, subscribers
from mailer.cli.output import cell, json_text, say
from mailer.cli.runtime import err_console, handle_errors, out_console, runtime
from mailer.errors import MailerError, NotFoundError

app = typer.Typer(
    no_args_is_help=True, help="Import, export, list, add, remove and erase subscribers."
)

#: How many problem lines the import summary prints before "… and N more".
SHOWN_PROBLEMS = 50


def _deliver_now(ctx) -> None:
    """Send queued notice mails now; if the relay is down they stay queued for `mailer serve`."""
    try:
        sent = asyncio.run(delivery.deliver_notices(ctx))
    except MailerError as exc:
        say(f"notice mail queued, not sent yet: {exc}", err=True)
        return
    pending = subscribers.notice_counts(ctx).waiting
    if sent:
        out_console.print(f"sent {sent} notice mail(s)")
    if pending:
        out_console.print(f"{pending} notice mail(s) wait for a retry (sent by `mailer serve`)")


@app.command("import")
@handle_errors
def import_csv(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV file with a header row; `email` is required."),
    confirmed: bool = typer.Option(
        False, "--confirmed", help="These people already consented elsewhere: no opt-in mail."
    ),
    source: str = typer.Option(None, "--source", help="Where the list came from (ledger)."),
    encoding: str = typer.Option("auto", help="auto (UTF-8 or CP949), or a Python codec name."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import subscribers from CSV; other columns become attributes. Suppressed addresses are skipped."""
    context = runtime(ctx).context
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("import")
        report = subscribers.import_csv_file(
            context,
            file,
            confirmed=confirmed,
            source=source,
            encoding=encoding,
            progress=lambda done, size: progress.update(task, completed=done, total=size),
        )
    if as_json:
        out_console.print(json_text(report.as_json()), markup=False, highlight=False)
    else:
        out_console.print(
            f"imported {report.imported}, duplicates {len(report.duplicates)}, "
            f"suppressed {len(report.suppressed)}, invalid {len(report.invalid)}"
        )
        for line, reason in report.invalid[:SHOWN_PROBLEMS]:
            say(f"  line {line}: {reason}")
        if len(report.invalid) > SHOWN_PROBLEMS:
            out_console.print(f"  … and {len(report.invalid) - SHOWN_PROBLEMS} more invalid lines")
        for label, lines in (("duplicate", report.duplicates), ("suppressed", report.suppressed)):
            if lines:
                shown = ", ".join(map(str, lines[:SHOWN_PROBLEMS]))
                more = f" … (+{len(lines) - SHOWN_PROBLEMS})" if len(lines) > SHOWN_PROBLEMS else ""
                out_console.print(f"  {label} lines: {shown}{more}")
        if report.confirmations_queued:
            out_console.print(
                f"{report.confirmations_queued} confirmation mail(s) queued; "
                "`mailer serve` sends them (or run `mailer subscribers send-notices`)"
            )


@app.command()
@handle_errors
def export(
    ctx: typer.Context,
    out: Path = typer.Option(None, "--out", help="Write to this file instead of standard output."),
    status: list[str] = typer.Option(None, "--status", help="Only these statuses (repeatable)."),
) -> None:
    """Export subscribers as CSV (UTF-8), attributes as extra columns, in the import format."""
    columns, rows = subscribers.export_table(runtime(ctx).context, statuses=status or None)
    target = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
    try:
        writer = csv.writer(target)
        writer.writerow(columns)
        count = 0
        for row in rows:
            writer.writerow(row)
            count += 1
    finally:
        if out:
            target.close()
    if out:
        out_console.print(f"exported {count} subscriber(s) to {out}")


@app.command("list")
@handle_errors
def list_subscribers(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
    status: list[str] = typer.Option(None, "--status", help="Only these statuses (repeatable)."),
    limit: int = typer.Option(0, help="Show at most this many (0 = all)."),
) -> None:
    """List subscribers (newest last) with their status."""
    context = runtime(ctx).context
    found = list(
        subscribers.iter_subscribers(context, statuses=status or None, limit=limit or None)
    )
    if as_json:
        sys.stdout.write(json_text([person.as_json() for person in found]) + "\n")
        return
    table = Table("email", "name", "organisation", "status", "source", "since")
    for person in found:
        table.add_row(
            *map(
                cell,
                (
                    person.email,
                    person.name,
                    person.organisation,
                    person.status,
                    person.source,
                    person.since.date().isoformat(),
                ),
            )
        )
    out_console.print(table)
    counts = subscribers.status_counts(context)
    out_console.print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no subscribers")


@app.command()
@handle_errors
def add(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="Address to add."),
    name: str = typer.Option(None, help="Name (optional)."),
    organisation: str = typer.Option(None, help="Organisation (optional)."),
    confirmed: bool = typer.Option(
        False, "--confirmed", help="Consent was given elsewhere (e.g. on paper): active at once."
    ),
    source: str = typer.Option("admin", help="Where the consent came from (ledger)."),
    notice: bool = typer.Option(True, "--notice/--no-notice", help="Mail the result notice."),
) -> None:
    """Add one subscriber; without --confirmed a confirmation mail is sent (double opt-in)."""
    context = runtime(ctx).context
    outcome = subscribers.add_subscriber(
        context,
        email,
        name=name,
        organisation=organisation,
        confirmed=confirmed,
        source=source,
        notify=notice,
    )
    if confirmed:
        say(f"added {email} (active)")
    else:
        say(f"{email}: {outcome} — the subscriber joins after clicking the link")
    _deliver_now(context)


@app.command()
@handle_errors
def remove(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="Address to unsubscribe."),
    notice: bool = typer.Option(True, "--notice/--no-notice", help="Mail the withdrawal notice."),
) -> None:
    """Unsubscribe an address now (its data is erased after the retention period)."""
    context = runtime(ctx).context
    changed = subscribers.unsubscribe_address(context, email, source="admin", notify=notice)
    say(f"{email}: {'unsubscribed' if changed else 'was already unsubscribed'}")
    if changed:
        _deliver_now(context)


@app.command()
@handle_errors
def erase(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="Address whose personal data is to be destroyed."),
    notice: bool = typer.Option(True, "--notice/--no-notice", help="Mail the erasure notice."),
) -> None:
    """Erase all personal data of an address; only a hashed suppression entry remains."""
    context = runtime(ctx).context
    if not subscribers.erase(context, email=email, source="admin", notify=notice):
        raise NotFoundError("subscriber", email)
    say(f"{email}: erased (a hashed suppression entry remains)")
    _deliver_now(context)


@app.command("send-notices")
@handle_errors
def send_notices(ctx: typer.Context) -> None:
    """Send queued confirmation and notice mails now (`mailer serve` and `mailer worker` do this by themselves)."""
    context = runtime(ctx).context
    # One delivery-worker run, notices only, until none is due.
    total = asyncio.run(delivery.deliver_notices(context))
    waiting = subscribers.notice_counts(context)
    line = f"sent {total}; waiting for retry {waiting.waiting}; failed {waiting.failed}"
    if waiting.unknown:
        line += f"; unknown (in flight when a worker stopped, not resent) {waiting.unknown}"
    out_console.print(line)


@app.command()
@handle_errors
def qr(
    ctx: typer.Context,
    out: Path = typer.Argument(..., help="File to write: .png or .svg (by extension)."),
    source: str = typer.Option(
        None, "--source", help="Tag recorded with each signup, e.g. poster-2026."
    ),
    scale: int = typer.Option(10, help="Pixels per module (1 to 100)."),
) -> None:
    """Write a QR code of the signup URL for posters (PNG or SVG)."""
    settings = runtime(ctx).settings
    fmt = out.suffix.lower().removeprefix(".")
    data = subscribers.signup_qr(settings, fmt=fmt, source=source, scale=scale)
    out.write_bytes(data)
    out_console.print(f"wrote {out} for {subscribers.signup_url(settings, source=source)}")


@app.command("form-snippet")
@handle_errors
def form_snippet(
    ctx: typer.Context,
    out: Path = typer.Option(None, "--out", help="Write to this file instead of standard output."),
    lang: str = typer.Option("ko", help="ko or en."),
    source: str = typer.Option(None, "--source", help="Tag recorded with each signup."),
) -> None:
    """Print an HTML form to embed in another site; it leads to the signup page."""
    snippet = subscribers.signup_form_snippet(runtime(ctx).settings, lang=lang, source=source)
    if out:
        out.write_text(snippet, encoding="utf-8")
        out_console.print(f"wrote {out}")
    else:
        sys.stdout.write(snippet)


__all__ = ["app"]

"""`mailer subscribers …`: import, export, list, add, remove, erase, and signup material for posters."""

from __future__ import annotations

import asyncio
import csv
import html
import json
import sys
from pathlib import Path

import segno
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mailer import subscribers as subscriptions
from mailer.cli.runtime import err_console, handle_errors, out_console, runtime
from mailer.errors import InvalidInputError, MailerError, NotFoundError
from mailer.models import Links, SubscriberStatus
from mailer.subscribers import check_header, import_rows

app = typer.Typer(
    no_args_is_help=True, help="Import, export, list, add, remove and erase subscribers."
)

EXPORT_COLUMNS = [
    "email",
    "name",
    "organisation",
    "status",
    "source",
    "created_at",
    "confirmed_at",
    "consented_at",
    "unsubscribed_at",
]
#: How many problem lines the import summary prints before "… and N more".
SHOWN_PROBLEMS = 50


def _statuses(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    known = {s.value for s in SubscriberStatus}
    for value in values:
        if value not in known:
            raise InvalidInputError(
                f"unknown status {value!r} (one of: {', '.join(sorted(known))})", field="status"
            )
    return values


def _deliver_now(ctx) -> None:
    """Send queued notice mails now; if the relay is down they stay queued for `mailer serve`."""
    try:
        sent = asyncio.run(subscriptions.deliver_notices(ctx))
    except MailerError as exc:
        err_console.print(f"notice mail queued, not sent yet: {exc}")
        return
    waiting = subscriptions.notice_counts(ctx)
    pending = waiting.get("queued", 0) + waiting.get("deferred", 0)
    if sent:
        out_console.print(f"sent {sent} notice mail(s)")
    if pending:
        out_console.print(f"{pending} notice mail(s) wait for a retry (sent by `mailer serve`)")


def _detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), else CP949 — what Korean spreadsheet programs save."""
    head = path.open("rb").read(1 << 20)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "cp949"
    return "utf-8-sig"


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
    if not file.is_file():
        raise InvalidInputError(f"{file} is not a readable file", field="file")
    context = runtime(ctx).context
    chosen = _detect_encoding(file) if encoding == "auto" else encoding
    size = file.stat().st_size or 1
    try:
        handle = file.open(encoding=chosen, newline="")
    except LookupError:
        raise InvalidInputError(f"unknown encoding {encoding!r}", field="encoding") from None
    with (
        handle,
        Progress(
            TextColumn("importing"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task("import", total=size)
        reader = csv.DictReader(handle)
        try:
            check_header(reader.fieldnames)

            def rows():
                # Report the line a record starts on (a quoted field may span lines).
                previous = reader.line_num
                for row in reader:
                    yield previous + 1, row
                    previous = reader.line_num

            report = import_rows(
                context,
                rows(),
                confirmed=confirmed,
                source=source or f"import:{file.name}",
                progress=lambda: progress.update(task, completed=handle.buffer.tell()),
            )
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"{file} is not {chosen} text ({exc.reason} at byte {exc.start}); "
                "try --encoding cp949 or --encoding utf-8",
                field="file",
            ) from None
        except csv.Error as exc:
            raise InvalidInputError(
                f"{file}: CSV error near line {reader.line_num}: {exc}", field="file"
            ) from None
    if as_json:
        out_console.print_json(json.dumps(report.as_json()))
    else:
        out_console.print(
            f"imported {report.imported}, duplicates {len(report.duplicates)}, "
            f"suppressed {len(report.suppressed)}, invalid {len(report.invalid)}"
        )
        for line, reason in report.invalid[:SHOWN_PROBLEMS]:
            out_console.print(f"  line {line}: {reason}", markup=False)
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
    context = runtime(ctx).context
    statuses = _statuses(status)
    # Two streaming passes: the first finds every attribute name, so memory stays flat.
    attribute_names: set[str] = set()
    for row in subscriptions.iter_subscribers(context, statuses=statuses):
        attribute_names.update((row["attributes"] or {}).keys())
    columns = EXPORT_COLUMNS + sorted(attribute_names - set(EXPORT_COLUMNS))
    target = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
    try:
        writer = csv.writer(target)
        writer.writerow(columns)
        count = 0
        for row in subscriptions.iter_subscribers(context, statuses=statuses):
            values = {k: row.get(k) for k in EXPORT_COLUMNS}
            values.update(row["attributes"] or {})
            writer.writerow(
                [
                    v.isoformat() if hasattr(v, "isoformat") else ("" if v is None else v)
                    for v in (values.get(c) for c in columns)
                ]
            )
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
    statuses = _statuses(status)
    found = []
    for row in subscriptions.iter_subscribers(context, statuses=statuses):
        found.append(row)
        if limit and len(found) >= limit:
            break
    if as_json:
        payload = [
            {
                "email": r["email"],
                "name": r["name"],
                "organisation": r["organisation"],
                "status": r["status"],
                "source": r["source"],
                "created_at": r["created_at"].isoformat(),
                "confirmed_at": r["confirmed_at"].isoformat() if r["confirmed_at"] else None,
                "attributes": r["attributes"] or {},
            }
            for r in found
        ]
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table("email", "name", "organisation", "status", "source", "since")
    for r in found:
        table.add_row(
            r["email"],
            r["name"] or "",
            r["organisation"] or "",
            r["status"],
            r["source"],
            (r["confirmed_at"] or r["created_at"]).date().isoformat(),
        )
    out_console.print(table)
    counts = subscriptions.status_counts(context)
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
    outcome = subscriptions.add_subscriber(
        context,
        email,
        name=name,
        organisation=organisation,
        confirmed=confirmed,
        source=source,
        notify=notice,
    )
    if confirmed:
        out_console.print(f"added {email} (active)")
    else:
        out_console.print(f"{email}: {outcome} — the subscriber joins after clicking the link")
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
    changed = subscriptions.unsubscribe_address(context, email, source="admin", notify=notice)
    out_console.print(f"{email}: {'unsubscribed' if changed else 'was already unsubscribed'}")
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
    if not subscriptions.erase(context, email=email, source="admin", notify=notice):
        raise NotFoundError("subscriber", email)
    out_console.print(f"{email}: erased (a hashed suppression entry remains)")
    _deliver_now(context)


@app.command("send-notices")
@handle_errors
def send_notices(ctx: typer.Context) -> None:
    """Send queued confirmation and notice mails now (`mailer serve` and `mailer worker` do this by themselves)."""
    context = runtime(ctx).context
    # One delivery-worker run, notices only, until none is due.
    total = asyncio.run(subscriptions.deliver_notices(context))
    waiting = subscriptions.notice_counts(context)
    line = (
        f"sent {total}; waiting for retry {waiting.get('queued', 0) + waiting.get('deferred', 0)}; "
        f"failed {waiting.get('failed', 0)}"
    )
    if waiting.get("unknown"):
        line += f"; unknown (in flight when a worker stopped, not resent) {waiting['unknown']}"
    out_console.print(line)


def _signup_url(ctx: typer.Context, tag: str | None) -> str:
    url = Links(runtime(ctx).settings.base_url).subscribe()
    if tag:
        if not tag.replace("-", "").replace("_", "").replace(".", "").isalnum() or len(tag) > 40:
            raise InvalidInputError(
                "--source may hold letters, digits, - _ . (≤ 40)", field="source"
            )
        url += f"?src={tag}"
    return url


@app.command()
@handle_errors
def qr(
    ctx: typer.Context,
    out: Path = typer.Argument(..., help="File to write: .png or .svg (by extension)."),
    source: str = typer.Option(
        None, "--source", help="Tag recorded with each signup, e.g. poster-2026."
    ),
    scale: int = typer.Option(10, min=1, max=100, help="Pixels per module."),
) -> None:
    """Write a QR code of the signup URL for posters (PNG or SVG)."""
    suffix = out.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise InvalidInputError("the QR file must end in .png or .svg", field="out")
    url = _signup_url(ctx, source)
    code = segno.make(url, error="m", micro=False)
    if suffix == ".svg":
        code.save(out, scale=scale, border=4, title=url)
    else:
        code.save(out, scale=scale, border=4)
    out_console.print(f"wrote {out} for {url}")


SNIPPET = """<!-- {list_name}: signup form. It opens the signup page with the address filled in;
     the consent text is read and accepted there (개인정보보호법 제15조). -->
<form method="get" action="{action}" accept-charset="utf-8" lang="{lang}"
      style="max-width:28rem;font-family:sans-serif;line-height:1.5">
  <label for="mailer-email" style="display:block;font-weight:600">{email_label}</label>
  <input id="mailer-email" name="email" type="email" autocomplete="email" required
         style="width:100%;padding:.6rem;font-size:1rem;border:2px solid #8c959f;border-radius:6px">
  <label for="mailer-name" style="display:block;font-weight:600;margin-top:.5rem">{name_label}</label>
  <input id="mailer-name" name="name" type="text" autocomplete="name"
         style="width:100%;padding:.6rem;font-size:1rem;border:2px solid #8c959f;border-radius:6px">
  <input type="hidden" name="lang" value="{lang}">{source_field}
  <button type="submit" style="margin-top:.75rem;padding:.6rem 1.2rem;font-size:1rem;font-weight:600;
          background:#0b6e4f;color:#fff;border:0;border-radius:6px">{button}</button>
</form>
"""


@app.command("form-snippet")
@handle_errors
def form_snippet(
    ctx: typer.Context,
    out: Path = typer.Option(None, "--out", help="Write to this file instead of standard output."),
    lang: str = typer.Option("ko", help="ko or en."),
    source: str = typer.Option(None, "--source", help="Tag recorded with each signup."),
) -> None:
    """Print an HTML form to embed in another site; it leads to the signup page."""
    if lang not in ("ko", "en"):
        raise InvalidInputError("--lang must be ko or en", field="lang")
    settings = runtime(ctx).settings
    words = {
        "ko": ("이메일 주소", "이름 (선택)", "뉴스레터 구독하기"),
        "en": ("Email address", "Name (optional)", "Subscribe to the newsletter"),
    }[lang]
    url = _signup_url(ctx, source)
    action = url.split("?", 1)[0]
    source_field = (
        f'\n  <input type="hidden" name="src" value="{html.escape(source)}">' if source else ""
    )
    snippet = SNIPPET.format(
        list_name=html.escape(settings.compliance.list_name),
        action=html.escape(action),
        lang=lang,
        email_label=words[0],
        name_label=words[1],
        button=words[2],
        source_field=source_field,
    )
    if out:
        out.write_text(snippet, encoding="utf-8")
        out_console.print(f"wrote {out}")
    else:
        sys.stdout.write(snippet)


__all__ = ["app"]

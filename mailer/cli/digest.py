"""The ``mailer digest`` command group: preview the next edition (the send commands are in ``cli.delivery``)."""

from __future__ import annotations

import enum
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer

from mailer import digest, schedules
from mailer.bootstrap import require_database
from mailer.cli.output import document, json_text, say
from mailer.cli.runtime import handle_errors, runtime
from mailer.errors import InvalidInputError, NotFoundError
from mailer.models import EditionState

app = typer.Typer(
    name="digest",
    help="Preview, send and inspect digest editions.",
    no_args_is_help=True,
    add_completion=False,
)


class PreviewFormat(enum.StrEnum):
    HTML = "html"
    TEXT = "text"
    JSON = "json"
    EML = "eml"


@app.command()
@handle_errors
def preview(
    ctx: typer.Context,
    format: PreviewFormat = typer.Option(
        PreviewFormat.HTML, "--format", "-f", help="html, text, json, or eml (the whole message)."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to FILE instead of stdout."),
    schedule: str = typer.Option("digest", help="The schedule whose next edition to preview."),
    markers: bool = typer.Option(
        False,
        "--markers",
        help="Keep the per-subscriber markers (%%MAILER_…%%) instead of a sample subscriber's values.",
    ),
) -> None:
    """Render the next edition as it would be built now; nothing is stored or sent."""
    context = runtime(ctx).context
    require_database(context)
    now = datetime.now(UTC)
    rendered = digest.preview_edition(
        context,
        schedule=schedule,
        scheduled_for=schedules.next_fire_time(context, schedule, now=now),
        now=now,
    )
    settings = context.settings
    if format is PreviewFormat.JSON:
        data = (json_text(digest.edition_json(rendered, zone=settings.zone)) + "\n").encode()
    elif format is PreviewFormat.EML:
        data = digest.sample_message(
            settings, subject=rendered.subject, html=rendered.html, text=rendered.text
        )
    else:
        part = rendered.html if format is PreviewFormat.HTML else rendered.text
        if not markers:
            part = digest.sample_part(part, settings, html=format is PreviewFormat.HTML)
        # A file gets the part exactly; a terminal gets it with nothing that can act on it.
        data = (part if out is not None else document(part)).encode("utf-8")
    _write(data, out)
    summary = (
        f"edition {rendered.number} ({rendered.scheduled_for.astimezone(settings.zone):%Y-%m-%d %H:%M}): "
        f"{len(rendered.stories)} stories in {len(rendered.sections)} sections — {rendered.subject}"
    )
    say(summary, err=True)
    if rendered.state is EditionState.SKIPPED:
        say(
            f"note: this edition would be skipped, and get no number — {rendered.reason}",
            err=True,
        )
    if out is not None:
        say(f"wrote {out}", err=True)


@app.command()
@handle_errors
def show(
    ctx: typer.Context,
    number: int = typer.Argument(..., help="The edition's number."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of lines."),
) -> None:
    """Show one edition: state, time, subject, stories, and the template versions it was built from."""
    context = runtime(ctx).context
    require_database(context)
    edition = digest.edition_by_number(context, number)
    if edition is None:
        raise NotFoundError("edition", number)
    zone = context.settings.zone
    if as_json:
        data = {
            "number": edition.number,
            "schedule": edition.schedule,
            "scheduled_for": edition.scheduled_for.astimezone(zone).isoformat(),
            "state": str(edition.state),
            "subject": edition.subject,
            "stories": len(edition.stories),
            "reason": edition.reason,
            "created_at": edition.created_at.astimezone(zone).isoformat(),
            "template_versions": edition.template_versions,
        }
        typer.echo(json_text(data))
        return
    say(f"edition {edition.number} — {edition.state}")
    say(f"schedule {edition.schedule}, for {edition.scheduled_for.astimezone(zone):%Y-%m-%d %H:%M}")
    say(f"subject: {edition.subject}")
    say(f"{len(edition.stories)} stories")
    if edition.reason:
        say(f"reason: {edition.reason}")
    versions = edition.template_versions
    if versions:
        say("templates: " + ", ".join(f"{name} v{n}" for name, n in sorted(versions.items())))
    else:
        say("templates: the files (made before template versions were recorded)")


def _write(data: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise InvalidInputError(f"cannot write {out}: {exc.strerror}", field="out") from None

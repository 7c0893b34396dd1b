"""``mailer templates …``: list the active template versions, export them to files, import changed files, reset one.

So a technical operator can still work on the mail templates in an editor and git
(issue 12 item 5): ``export DIR`` writes the active source of every template to
``DIR/<name>``; ``import DIR`` makes each changed file a new version, rendered first
like a save in the admin — a file that fails is reported at its line (exit code 1)
while the others still import.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mailer import digest
from mailer.bootstrap import require_database
from mailer.cli.output import cell, json_text, say
from mailer.cli.runtime import EXIT_FAILED, fail, handle_errors, out_console, runtime

app = typer.Typer(
    no_args_is_help=True, help="List, export, import and reset the mail templates' versions."
)


def _where(problem: digest.TemplateProblem) -> str:
    where = problem.template or ""
    if problem.line:
        where += f", line {problem.line}"
    return where


@app.command("list")
@handle_errors
def list_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Each template with its active version, author and time."""
    context = runtime(ctx).context
    require_database(context)
    zone = context.settings.zone
    templates = digest.list_templates(context)
    if as_json:
        rows = [
            {
                "name": t.name,
                "version": t.number,
                "origin": t.origin,
                "author": t.author,
                "note": t.note,
                "created_at": t.created_at.isoformat(),
            }
            for t in templates
        ]
        typer.echo(json_text(rows))
        return
    table = Table(title="templates (active versions)", title_justify="left")
    for column in ("template", "version", "origin", "author", "time"):
        table.add_column(column, justify="right" if column == "version" else "left")
    for t in templates:
        table.add_row(
            cell(t.name),
            cell(t.number or "file"),
            cell(t.origin),
            cell(t.author or "—"),
            cell(f"{t.created_at.astimezone(zone):%Y-%m-%d %H:%M}"),
        )
    out_console.print(table)


@app.command("export")
@handle_errors
def export_command(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., metavar="DIR", help="Where to write the files."),
) -> None:
    """Write the active source of every template to DIR/<name>."""
    context = runtime(ctx).context
    require_database(context)
    for path in digest.export_templates(context, directory):
        say(f"wrote {path}")


@app.command("import")
@handle_errors
def import_command(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., metavar="DIR", help="A directory of template files."),
) -> None:
    """Make each file of DIR that differs from its active version a new version (rendered first)."""
    context = runtime(ctx).context
    require_database(context)
    report = digest.import_templates(context, directory)
    for version in report.imported:
        say(f"imported {version.name} as version {version.number}")
    for name in report.unchanged:
        say(f"unchanged {name}")
    for name in report.unknown:
        say(f"skipped {name}: not a template (see `mailer templates list`)", style="yellow")
    for name, problem in report.refused:
        say(f"refused {name}: {_where(problem)}: {problem.message}", err=True, style="red")
    if report.refused:
        raise fail(
            f"{len(report.refused)} file(s) refused; their active versions are unchanged",
            code=EXIT_FAILED,
        )


@app.command("reset")
@handle_errors
def reset_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="The template, e.g. digest.html.j2."),
) -> None:
    """Make the shipped default (the file under templates/email/) the active version again."""
    context = runtime(ctx).context
    require_database(context)
    saved = digest.reset_template_from_cli(context, name)
    say(f"{name}: version {saved.version.number} is the shipped default")
    for warning in saved.warnings:
        say(f"warning: {warning.message}", style="yellow")

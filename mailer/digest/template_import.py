"""``mailer templates import DIR``: each file that differs from its active version becomes a new version.

Issue 12 item 5, so a technical operator can still edit the templates in an editor
and git. Each file is validated like a save (rendered first); a refused file is
reported with its line and the others still import; names that are not templates
are reported and skipped. Audit ``template.import``, actor "cli".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.digest.template_edits import (
    CLI_ACTOR,
    IMPORT,
    TemplateRefused,
    TemplateVersion,
    active_source,
    store_version,
)
from mailer.digest.template_preview import EDITABLE_TEMPLATES, TemplateProblem
from mailer.errors import InvalidInputError

if TYPE_CHECKING:
    from mailer.context import AppContext


@dataclass
class ImportReport:
    imported: list[TemplateVersion] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[tuple[str, TemplateProblem]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def import_templates(
    ctx: AppContext, directory: Path, /, *, now: datetime | None = None
) -> ImportReport:
    """Import every file of ``directory`` named like a template (see module docstring)."""
    if not directory.is_dir():
        raise InvalidInputError(f"{directory} is not a directory", field="directory")
    now = now or datetime.now(UTC)
    report = ImportReport()
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.name not in EDITABLE_TEMPLATES:
            report.unknown.append(path.name)
            continue
        source = path.read_text(encoding="utf-8")
        if source == active_source(ctx, path.name):
            report.unchanged.append(path.name)
            continue
        try:
            saved = store_version(
                ctx,
                path.name,
                source,
                author=None,
                actor=CLI_ACTOR,
                origin="import",
                action=IMPORT,
                note=f"imported from {path}",
                now=now,
            )
        except TemplateRefused as refused:
            report.refused.append((path.name, refused.problem))
            continue
        report.imported.append(saved.version)
    return report

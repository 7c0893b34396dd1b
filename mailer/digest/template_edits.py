"""Staff-edited mail templates, versioned: list, history, save (rendered first), rollback, reset, diff, import/export.

Issue 12 items 4 and 5. Every change is a new numbered version that becomes the
active one; a version that fails to render never does (:class:`TemplateRefused`).
The render happens before the write transaction opens (design §4), and the audit row
is written in the same transaction as the version. Roles: ``edit_templates``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.exc import IntegrityError

from mailer.digest.template_checks import TemplateWarning
from mailer.digest.template_preview import (
    EDITABLE_TEMPLATES,
    TemplateProblem,
    preview_templates,
)
from mailer.errors import MailerError, NotFoundError, StoreError
from mailer.roles import require
from mailer.store import template_versions as store
from mailer.store.db import write_transaction
from mailer.store.staff_sessions import append_audit

if TYPE_CHECKING:
    from mailer.context import AppContext

SAVE, ROLLBACK, RESET, IMPORT = (
    "template.save",
    "template.rollback",
    "template.reset",
    "template.import",
)

#: The audit actor of ``mailer templates import``.
CLI_ACTOR = "cli"


class Account(Protocol):
    email: str
    role: str


@dataclass(frozen=True)
class TemplateVersion:
    name: str
    number: int
    source: str
    author: str | None
    note: str
    origin: str
    created_at: datetime
    active: bool


class TemplateRefused(MailerError):
    """A save whose source does not render: nothing was stored, the active version is unchanged."""

    def __init__(self, problem: TemplateProblem) -> None:
        where = problem.template or ""
        if problem.line:
            where += f" {problem.line}행 / line {problem.line}"
        super().__init__(f"{where}: {problem.message}" if where else problem.message)
        self.problem = problem


@dataclass(frozen=True)
class Saved:
    version: TemplateVersion
    warnings: list[TemplateWarning]


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same" | "added" | "removed"
    text: str
    old_line: int | None
    new_line: int | None


def _view(row: store.VersionRow) -> TemplateVersion:
    return TemplateVersion(
        name=row.name,
        number=row.number,
        source=row.source,
        author=row.author,
        note=row.note,
        origin=row.origin,
        created_at=row.created_at,
        active=row.active,
    )


def _known(name: str, /) -> None:
    if name not in EDITABLE_TEMPLATES:
        raise NotFoundError("template", name)


def shipped_source(ctx: AppContext, name: str, /) -> str:
    """The shipped default of ``name``: its file under templates/email/."""
    _known(name)
    return (ctx.settings.templates_dir / "email" / name).read_text(encoding="utf-8")


def _shipped_version(ctx: AppContext, name: str, /) -> TemplateVersion:
    """What a template without versions in the database renders with (before ``mailer init``)."""
    path = ctx.settings.templates_dir / "email" / name
    created = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return TemplateVersion(name, 0, shipped_source(ctx, name), None, "", "default", created, True)


def list_templates(ctx: AppContext, /) -> list[TemplateVersion]:
    """The active version of every editable template, in EDITABLE_TEMPLATES order."""
    with ctx.engine.connect() as conn:
        active = {row.name: row for row in store.active_versions(conn)}
    return [
        _view(active[name]) if name in active else _shipped_version(ctx, name)
        for name in EDITABLE_TEMPLATES
    ]


def template_versions(ctx: AppContext, name: str, /) -> list[TemplateVersion]:
    """Every version of ``name``, newest first."""
    _known(name)
    with ctx.engine.connect() as conn:
        rows = store.history(conn, name)
    return [_view(row) for row in rows] or [_shipped_version(ctx, name)]


def template_version(ctx: AppContext, name: str, number: int, /) -> TemplateVersion:
    _known(name)
    with ctx.engine.connect() as conn:
        row = store.find_version(conn, name, number)
    if row is None:
        raise NotFoundError("template version", f"{name} {number}")
    return _view(row)


def active_source(ctx: AppContext, name: str, /) -> str:
    _known(name)
    with ctx.engine.connect() as conn:
        row = store.active_version(conn, name)
    return row.source if row is not None else shipped_source(ctx, name)


def _lines(source: str | None) -> int | None:
    return None if source is None else len(source.splitlines())


def store_version(
    ctx: AppContext,
    name: str,
    source: str,
    /,
    *,
    author: str | None,
    actor: str,
    origin: str,
    action: str,
    note: str = "",
    client: str | None = None,
    now: datetime | None = None,
    detail: dict | None = None,
) -> Saved:
    """Render ``source`` as ``name`` first; refuse it on a problem, else store it as the active version."""
    _known(name)
    now = now or datetime.now(UTC)
    preview = preview_templates(ctx, name, overrides={name: source}, now=now)
    if preview.problem is not None:
        raise TemplateRefused(preview.problem)
    for _attempt in range(3):
        try:
            with write_transaction(ctx.engine) as conn:
                before = store.active_version(conn, name)
                row = store.add_version(
                    conn,
                    name,
                    source=source,
                    author=author,
                    note=note,
                    origin=origin,
                    created_at=now,
                )
                append_audit(
                    conn,
                    at=now,
                    actor=actor,
                    action=action,
                    client_address=client,
                    target=name,
                    detail={
                        "before": {
                            "version": before.number if before else None,
                            "lines": _lines(before.source if before else None),
                        },
                        "after": {"version": row.number, "lines": _lines(source)},
                        "note": note,
                        **(detail or {}),
                    },
                )
        except IntegrityError:
            continue  # PostgreSQL: another save took this number; take the next one
        return Saved(version=_view(row), warnings=preview.warnings)
    raise StoreError(f"could not save template {name}: busy")


def save_template(
    ctx: AppContext,
    account: Account,
    name: str,
    source: str,
    /,
    *,
    note: str = "",
    client: str | None = None,
    now: datetime | None = None,
) -> Saved:
    """A staff member's edit: rendered first, then the new active version (audit ``template.save``)."""
    require(account, "edit_templates")
    return store_version(
        ctx,
        name,
        source,
        author=account.email,
        actor=account.email,
        origin="editor",
        action=SAVE,
        note=note.strip(),
        client=client,
        now=now,
    )


def rollback_template(
    ctx: AppContext,
    account: Account,
    name: str,
    number: int,
    /,
    *,
    client: str | None = None,
    now: datetime | None = None,
) -> Saved:
    """A new active version copying version ``number`` (validated like a save)."""
    require(account, "edit_templates")
    old = template_version(ctx, name, number)
    return store_version(
        ctx,
        name,
        old.source,
        author=account.email,
        actor=account.email,
        origin="rollback",
        action=ROLLBACK,
        note=f"{number}번 버전으로 되돌림 / rolled back to version {number}",
        client=client,
        now=now,
        detail={"from_version": number},
    )


def reset_template(
    ctx: AppContext,
    account: Account,
    name: str,
    /,
    *,
    client: str | None = None,
    now: datetime | None = None,
) -> Saved:
    """A new active version holding the shipped default (the file under templates/email/)."""
    require(account, "edit_templates")
    return store_version(
        ctx,
        name,
        shipped_source(ctx, name),
        author=account.email,
        actor=account.email,
        origin="reset",
        action=RESET,
        note="기본값으로 되돌림 / reset to the shipped default",
        client=client,
        now=now,
    )


def diff_versions(ctx: AppContext, name: str, old: int, new: int, /) -> list[DiffLine]:
    """The line diff from version ``old`` to version ``new`` of ``name`` (every line, in order)."""
    before = template_version(ctx, name, old).source.splitlines()
    after = template_version(ctx, name, new).source.splitlines()
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            lines.extend(
                DiffLine("same", before[i1 + k], i1 + k + 1, j1 + k + 1) for k in range(i2 - i1)
            )
            continue
        lines.extend(DiffLine("removed", before[i], i + 1, None) for i in range(i1, i2))
        lines.extend(DiffLine("added", after[j], None, j + 1) for j in range(j1, j2))
    return lines


def export_templates(ctx: AppContext, directory: Path, /) -> list[Path]:
    """Write the active source of every template to ``directory``/<name>; the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for version in list_templates(ctx):
        path = directory / version.name
        path.write_text(version.source, encoding="utf-8")
        written.append(path)
    return written


def reset_template_from_cli(ctx: AppContext, name: str, /, *, now: datetime | None = None) -> Saved:
    """``mailer templates reset NAME``: the shipped default as a new version (actor "cli")."""
    return store_version(
        ctx,
        name,
        shipped_source(ctx, name),
        author=None,
        actor=CLI_ACTOR,
        origin="reset",
        action=RESET,
        note="기본값으로 되돌림 / reset to the shipped default",
        now=now,
    )

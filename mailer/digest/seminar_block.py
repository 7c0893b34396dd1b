"""Staff edit the seminar and sender block (issue 12 item 7): read it, save a version, roll back.

Every save is a new version (author, time, optional note) that becomes active at
once: the next digest, its preview, the calendar files and the notices' footer use
it. Editors (``edit_seminar``) change the series, sessions and contact; the sender's
compliance footer and the (광고) switch need ``change_compliance`` (admins): an
editor's save or rollback that would change them is refused whole and stores
nothing. Each save and rollback is audited in its own write transaction with the
fields it changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from mailer.digest.seminar import _local
from mailer.digest.seminar_document import (
    SENDER_PART,
    canonical,
    changed_fields,
    check_document,
    normalised,
)
from mailer.errors import NotFoundError
from mailer.roles import HasRole, PermissionDenied, allowed, require
from mailer.store import seminar_versions as store
from mailer.store.db import write_transaction
from mailer.store.staff_sessions import append_audit

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from mailer.config import Settings
    from mailer.context import AppContext


class Account(HasRole, Protocol):
    email: str


@dataclass(frozen=True, slots=True)
class BlockView:
    """The block as the page shows it: the active document, and which sessions are past."""

    number: int | None
    document: dict[str, Any]
    author: str
    created_at: datetime | None
    past: frozenset[str]


@dataclass(frozen=True, slots=True)
class BlockVersion:
    number: int
    author: str
    note: str
    created_at: datetime
    active: bool


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _current(conn: Connection, settings: Settings) -> tuple[dict | None, dict[str, Any]]:
    """(the active version row or None, its document in canonical form — or the files')."""
    version = store.active_version(conn)
    if version is not None:
        return version, normalised(version["document"])
    files = store.document_from_files(settings)
    return None, normalised(files) if files is not None else {}


def _past(document: dict[str, Any], now: datetime) -> frozenset[str]:
    """Ids of the sessions over at ``now``: shown as 지난 일정, kept out of the mail."""
    zone = document.get("timezone") or "Asia/Seoul"
    past = set()
    for session in document.get("sessions") or []:
        moment = session.get("ends") or session.get("starts")
        try:
            if _local(datetime.fromisoformat(moment), zone) <= now:
                past.add(session.get("id"))
        except (TypeError, ValueError):
            continue
    return frozenset(past)


def current_block(ctx: AppContext, /, *, now: datetime | None = None) -> BlockView:
    """The block in force (the files' when no version was ever stored)."""
    with ctx.engine.connect() as conn:
        version, document = _current(conn, ctx.settings)
    return BlockView(
        number=version["number"] if version else None,
        document=document,
        author=version["author"] if version else "",
        created_at=version["created_at"] if version else None,
        past=_past(document, _now(now)),
    )


def block_versions(ctx: AppContext, /) -> list[BlockVersion]:
    """Every stored version, newest first."""
    with ctx.engine.connect() as conn:
        rows = store.list_versions(conn)
    return [BlockVersion(**row) for row in rows]


def _guard_sender(account: Account, changes: dict[str, list]) -> None:
    if any(path.startswith(f"{SENDER_PART}.") for path in changes):
        if not allowed(account, "change_compliance"):
            raise PermissionDenied(account.role, "change_compliance")


def _summary(changes: dict[str, list]) -> dict[str, dict]:
    return {
        "before": {path: pair[0] for path, pair in changes.items()},
        "after": {path: pair[1] for path, pair in changes.items()},
    }


def save_block(
    ctx: AppContext,
    account: Account,
    document: dict[str, Any],
    /,
    *,
    note: str = "",
    client: str | None = None,
    now: datetime | None = None,
) -> int:
    """Check ``document``, store it as the next version and make it active; returns its number.

    Raises BlockInvalid (every bad field named, "한국어 / English"), and PermissionDenied
    for a role without ``edit_seminar``, or without ``change_compliance`` when the
    sender part or the (광고) switch would change.
    """
    require(account, "edit_seminar")
    after = canonical(check_document(document))
    now = _now(now)
    note = " ".join(note.split())[:500]
    with write_transaction(ctx.engine) as conn:
        store.lock_versions(conn)
        _version, before = _current(conn, ctx.settings)
        changes = changed_fields(before, after)
        _guard_sender(account, changes)
        number = store.add_version(conn, after, author=account.email, note=note, now=now)
        append_audit(
            conn,
            at=now,
            actor=account.email,
            action="seminar.save",
            client_address=client,
            target=f"version {number}",
            detail={**_summary(changes), **({"note": note} if note else {})},
        )
    return number


def rollback_block(
    ctx: AppContext,
    account: Account,
    number: int,
    /,
    *,
    client: str | None = None,
    now: datetime | None = None,
) -> None:
    """Make version ``number`` active again (NotFoundError if there is none).

    The same rule as a save: an editor cannot roll back to a version whose sender
    part differs from the one in force.
    """
    require(account, "edit_seminar")
    now = _now(now)
    with write_transaction(ctx.engine) as conn:
        store.lock_versions(conn)
        target = store.version_by_number(conn, number)
        if target is None:
            raise NotFoundError("seminar block version", number)
        version, before = _current(conn, ctx.settings)
        changes = changed_fields(before, normalised(target["document"]))
        _guard_sender(account, changes)
        store.activate(conn, number)
        append_audit(
            conn,
            at=now,
            actor=account.email,
            action="seminar.rollback",
            client_address=client,
            target=f"version {number}",
            detail={**_summary(changes), "from": version["number"] if version else None},
        )

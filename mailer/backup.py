"""Back up a SQLite database while the service runs, with SQLite's online backup API.

A live database file must not be copied with ``cp``: a write landing mid-copy, or pages
still in the ``-wal`` file, make a copy that is torn or stale. ``sqlite3``'s backup API
copies every page of one consistent snapshot instead; the database runs in WAL mode
(mailer/store/db.py), so the snapshot's read transaction blocks no writer — a one-click
unsubscribe during a backup succeeds. The copy is written next to the target, checked
with ``PRAGMA integrity_check``, and only then renamed into place, so the target is
either a whole checked backup or absent. PostgreSQL has ``pg_dump`` for this (README,
"Backups and restore").
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.errors import InvalidInputError, StoreError

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


@dataclass(frozen=True)
class Backup:
    """A finished backup: where it is, how big, and how many subscribers it holds."""

    path: Path
    size: int
    subscribers: int


def backup_database(ctx: AppContext, target: Path, /) -> Backup:
    """Copy this installation's SQLite database to ``target`` (a new file) while it is in use."""
    url = ctx.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise InvalidInputError(
            "mailer backup copies a SQLite database; on PostgreSQL use pg_dump "
            "(README, 'Backups and restore')",
            field="database_url",
        )
    source = Path(url.database)
    if target.exists():
        raise InvalidInputError(f"{target} exists already; name a new file", field="target")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        _copy(source, partial)
        subscribers = _check(partial)
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise StoreError(f"backup of {source} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return Backup(path=target, size=target.stat().st_size, subscribers=subscribers)


def _copy(source: Path, target: Path) -> None:
    # Read-only: the backup never writes to the live database.
    live = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(target)
        try:
            # One step (pages=-1): one snapshot, never restarted by a concurrent write.
            live.backup(copy, pages=-1)
        finally:
            copy.close()
    finally:
        live.close()


def _check(path: Path) -> int:
    copy = sqlite3.connect(path)
    try:
        result = copy.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise StoreError(f"the backup failed its integrity check: {result}")
        # The backup is a database file on its own, not one depending on a -wal file.
        copy.execute("PRAGMA journal_mode=DELETE")
        return copy.execute("SELECT count(*) FROM subscribers").fetchone()[0]
    finally:
        copy.close()

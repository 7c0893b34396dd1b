"""Seminar block versions: rows in, rows out, and the seed read from config/seminar.toml and ``[compliance]``.

A version is never changed after it is written, except for which one is active
(a save adds the next number and makes it active; a rollback activates an older one).
The documents' rules (required fields, formats) are the digest step's; this module
stores what it is given.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select, text, update

from mailer.errors import ConfigError
from mailer.store.seminar_tables import seminar_versions

if TYPE_CHECKING:
    from mailer.config import Settings

#: The author of the version ``mailer init`` seeds from the files.
SEED_AUTHOR = "mailer init"

#: The compliance settings that belong to the block's ``sender`` part (name in the
#: document → name in ``[compliance]``); the technical ones (from_address, list_id …)
#: stay settings.
SENDER_FIELDS = {
    "name": "sender_name",
    "name_en": "sender_name_en",
    "postal_address": "postal_address",
    "phone": "phone",
    "email": "email",
    "reason": "reason",
    "reason_en": "reason_en",
    "advertisement": "advertisement",
}

_SUMMARY = [
    seminar_versions.c.number,
    seminar_versions.c.author,
    seminar_versions.c.note,
    seminar_versions.c.created_at,
    seminar_versions.c.active,
]


def lock_versions(conn: Connection, /) -> None:
    """Make concurrent saves take turns (PostgreSQL; SQLite has one writer anyway).

    Taken first in a save's or rollback's write transaction, so the version it reads
    as "before" is still the active one when it writes the next number.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE seminar_versions IN SHARE ROW EXCLUSIVE MODE"))


def active_version(conn: Connection, /) -> dict | None:
    """The active version (number, document, author, note, created_at, active), or None."""
    row = (
        conn.execute(select(seminar_versions).where(seminar_versions.c.active.is_(True)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def version_by_number(conn: Connection, number: int, /) -> dict | None:
    row = (
        conn.execute(select(seminar_versions).where(seminar_versions.c.number == number))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def list_versions(conn: Connection, /) -> list[dict]:
    """Every version without its document, newest first."""
    query = select(*_SUMMARY).order_by(seminar_versions.c.number.desc())
    return [dict(row) for row in conn.execute(query).mappings()]


def add_version(
    conn: Connection, document: dict, /, *, author: str, note: str, now: datetime
) -> int:
    """Store ``document`` as the next version and make it the active one; returns its number."""
    latest = conn.execute(select(func.max(seminar_versions.c.number))).scalar()
    number = (latest or 0) + 1
    conn.execute(update(seminar_versions).values(active=False))
    conn.execute(
        insert(seminar_versions).values(
            number=number,
            document=document,
            author=author[:320],
            note=note[:500],
            created_at=now,
            active=True,
        )
    )
    return number


def activate(conn: Connection, number: int, /) -> None:
    """Make version ``number`` the active one (a rollback)."""
    conn.execute(update(seminar_versions).values(active=seminar_versions.c.number == number))


def seed_from_files(conn: Connection, settings: Settings, /, *, now: datetime) -> bool:
    """Store version 1 from the seminar file and ``[compliance]`` unless a version exists.

    Nothing is seeded without a seminar file (``digest.seminar_file = ""``): the
    digest then has no block and the footer keeps the settings.
    """
    if conn.execute(select(func.count()).select_from(seminar_versions)).scalar():
        return False
    document = document_from_files(settings)
    if document is None:
        return False
    note = f"{settings.digest.seminar_file} · [compliance]"
    add_version(conn, document, author=SEED_AUTHOR, note=note, now=now)
    return True


def document_from_files(settings: Settings, /) -> dict | None:
    """The block as config/seminar.toml and ``[compliance]`` give it (None: no seminar file).

    A file that cannot be parsed is a ConfigError naming it; its rules are checked
    where the block is used (the digest step), as before.
    """
    path = settings.digest.seminar_path(settings.config_dir)
    if path is None:
        return None
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None  # rendering says so, as it always did; init need not stop for it
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"seminar file {path}: {exc}") from None
    compliance = settings.compliance
    sender = {key: getattr(compliance, name) for key, name in SENDER_FIELDS.items()}
    return {**_plain(raw), "sender": sender}


def _plain(value: Any) -> Any:
    """TOML values as JSON: dates and times become ISO strings (minutes, when seconds are 0)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        if value.second == 0 and value.microsecond == 0 and value.tzinfo is None:
            return value.strftime("%Y-%m-%dT%H:%M")
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return value

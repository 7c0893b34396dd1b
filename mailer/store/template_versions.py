"""Template version rows: the active source of each template, a template's history, and adding a version.

Adding a version makes it the active one of its name in the same statement group
(the old active row is switched off first, so the partial unique index on active
rows holds at every step). Numbers run 1, 2, 3 … per name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from mailer.store.template_tables import template_versions as versions


@dataclass(frozen=True, slots=True)
class VersionRow:
    name: str
    number: int
    source: str
    author: str | None
    note: str
    origin: str
    created_at: datetime
    active: bool


def _row(row: Mapping[str, Any]) -> VersionRow:
    return VersionRow(
        name=row["name"],
        number=row["number"],
        source=row["source"],
        author=row["author"],
        note=row["note"] or "",
        origin=row["origin"],
        created_at=row["created_at"],
        active=bool(row["active"]),
    )


_COLUMNS = (
    versions.c.name,
    versions.c.number,
    versions.c.source,
    versions.c.author,
    versions.c.note,
    versions.c.origin,
    versions.c.created_at,
    versions.c.active,
)


def active_versions(conn: Connection, /) -> list[VersionRow]:
    """The active version of every template that has one, by name."""
    rows = conn.execute(
        select(*_COLUMNS).where(versions.c.active.is_(True)).order_by(versions.c.name)
    ).mappings()
    return [_row(row) for row in rows]


def active_sources(conn: Connection, /) -> dict[str, tuple[int, str]]:
    """{name: (number, source)} of every active version (empty before ``mailer init``)."""
    rows = conn.execute(
        select(versions.c.name, versions.c.number, versions.c.source).where(
            versions.c.active.is_(True)
        )
    )
    return {row.name: (row.number, row.source) for row in rows}


def active_version(conn: Connection, name: str, /) -> VersionRow | None:
    row = (
        conn.execute(select(*_COLUMNS).where(versions.c.name == name, versions.c.active.is_(True)))
        .mappings()
        .first()
    )
    return _row(row) if row else None


def history(conn: Connection, name: str, /) -> list[VersionRow]:
    """Every version of ``name``, newest first."""
    rows = conn.execute(
        select(*_COLUMNS).where(versions.c.name == name).order_by(versions.c.number.desc())
    ).mappings()
    return [_row(row) for row in rows]


def find_version(conn: Connection, name: str, number: int, /) -> VersionRow | None:
    row = (
        conn.execute(select(*_COLUMNS).where(versions.c.name == name, versions.c.number == number))
        .mappings()
        .first()
    )
    return _row(row) if row else None


def has_versions(conn: Connection, name: str, /) -> bool:
    return (
        conn.execute(select(versions.c.id).where(versions.c.name == name).limit(1)).first()
        is not None
    )


def add_version(
    conn: Connection,
    name: str,
    /,
    *,
    source: str,
    author: str | None,
    note: str,
    origin: str,
    created_at: datetime,
) -> VersionRow:
    """Store the next version of ``name`` and make it the active one (inside a write transaction).

    Raises the driver's IntegrityError if another writer took the same number first.
    """
    highest = conn.execute(
        select(func.max(versions.c.number)).where(versions.c.name == name)
    ).scalar()
    number = (highest or 0) + 1
    conn.execute(
        update(versions)
        .where(versions.c.name == name, versions.c.active.is_(True))
        .values(active=False)
    )
    conn.execute(
        insert(versions).values(
            name=name,
            number=number,
            source=source,
            author=author,
            note=note,
            origin=origin,
            created_at=created_at,
            active=True,
        )
    )
    return VersionRow(name, number, source, author, note, origin, created_at, True)


@dataclass(frozen=True, slots=True)
class SeedResult:
    #: Templates that got their shipped file as version 1.
    seeded: list[str]
    #: Templates whose shipped file differs from the default seeded before while staff
    #: have their own version active: init leaves theirs in place.
    default_changed: list[str]


def seed_shipped(conn: Connection, directory: Path, /, *, now: datetime) -> SeedResult:
    """Seed every file of ``directory`` (templates/email/) as version 1 of a name with no version.

    When a release ships a changed file: a name still on its shipped default gets the
    new one as its next version (origin "default"); a name with a staff version active
    keeps it and is reported. Running it twice adds nothing.
    """
    seeded: list[str] = []
    changed: list[str] = []
    for path in sorted(directory.glob("*.j2")):
        name = path.name
        source = path.read_text(encoding="utf-8")
        active = active_version(conn, name)
        if active is None and not has_versions(conn, name):
            add_version(
                conn, name, source=source, author=None, note="", origin="default", created_at=now
            )
            seeded.append(name)
            continue
        last_default = conn.execute(
            select(versions.c.source)
            .where(versions.c.name == name, versions.c.origin == "default")
            .order_by(versions.c.number.desc())
            .limit(1)
        ).scalar()
        if last_default == source or (active is not None and active.source == source):
            continue
        if active is not None and active.origin == "default":
            add_version(
                conn, name, source=source, author=None, note="", origin="default", created_at=now
            )
            seeded.append(name)
        else:
            changed.append(name)
    return SeedResult(seeded=seeded, default_changed=changed)

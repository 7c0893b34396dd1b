"""Edition rows: insert a frozen edition with its story links, find one, list the sent or paused ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from mailer.models import Edition, EditionState
from mailer.store.tables import edition_stories, editions


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One line of the public archive list."""

    number: int
    subject: str
    scheduled_for: datetime
    sent_at: datetime | None
    story_count: int
    #: The first story's title ("" for an edition without news).
    lead_title: str = ""


def _edition(row: Mapping[str, Any]) -> Edition:
    return Edition(
        id=row["id"],
        number=row["number"],
        schedule=row["schedule"],
        scheduled_for=row["scheduled_for"],
        state=EditionState(row["state"]),
        subject=row["subject"],
        html=row["html"],
        text=row["text"],
        stories=list(row["stories"] or []),
        reason=row["reason"],
        created_at=row["created_at"],
        template_versions=row.get("template_versions"),
    )


def find_by_key(conn: Connection, /, *, schedule: str, scheduled_for: datetime) -> Edition | None:
    """The edition of (schedule, scheduled time), the unique key, or None."""
    row = (
        conn.execute(
            select(editions).where(
                editions.c.schedule == schedule, editions.c.scheduled_for == scheduled_for
            )
        )
        .mappings()
        .first()
    )
    return _edition(row) if row else None


def find_by_number(conn: Connection, number: int, /) -> Edition | None:
    row = conn.execute(select(editions).where(editions.c.number == number)).mappings().first()
    return _edition(row) if row else None


def next_number(conn: Connection, /) -> int:
    """One more than the highest number given so far (1 for the first edition).

    Skipped editions have none (NULL), so they leave no gap.
    """
    highest = conn.execute(select(func.max(editions.c.number))).scalar()
    return (highest or 0) + 1


def insert_edition(
    conn: Connection,
    /,
    *,
    number: int | None,
    schedule: str,
    scheduled_for: datetime,
    state: EditionState,
    subject: str,
    html: str,
    text: str,
    stories: list[dict[str, Any]],
    reason: str | None,
    created_at: datetime,
    story_positions: Iterable[tuple[int, int]],
    template_versions: dict[str, int] | None = None,
) -> Edition:
    """Insert an edition and its edition_stories rows ((story id, position) pairs).

    Raises the driver's IntegrityError when (schedule, scheduled_for) or the number is
    taken; the caller decides what that means (another process created it first).
    """
    edition_id = conn.execute(
        insert(editions).values(
            number=number,
            schedule=schedule,
            scheduled_for=scheduled_for,
            state=str(state),
            subject=subject,
            html=html,
            text=text,
            stories=stories,
            reason=reason,
            created_at=created_at,
            template_versions=template_versions,
        )
    ).inserted_primary_key[0]
    links = [
        {"edition_id": edition_id, "story_id": story_id, "position": position}
        for story_id, position in story_positions
    ]
    if links:
        conn.execute(insert(edition_stories), links)
    return Edition(
        id=edition_id,
        number=number,
        schedule=schedule,
        scheduled_for=scheduled_for,
        state=state,
        subject=subject,
        html=html,
        text=text,
        stories=stories,
        reason=reason,
        created_at=created_at,
        template_versions=template_versions,
    )


def edition_story_ids(conn: Connection, edition_id: int, /) -> list[int]:
    """Every story row frozen into an edition, in position order."""
    rows = conn.execute(
        select(edition_stories.c.story_id)
        .where(edition_stories.c.edition_id == edition_id)
        .order_by(edition_stories.c.position, edition_stories.c.story_id)
    )
    return [row[0] for row in rows]


def list_sent(conn: Connection, /, *, limit: int = 200, offset: int = 0) -> list[ArchiveEntry]:
    """Sent editions, newest first, for the public archive."""
    rows = conn.execute(
        select(
            editions.c.number,
            editions.c.subject,
            editions.c.scheduled_for,
            editions.c.sent_at,
            editions.c.stories,
        )
        .where(editions.c.state == str(EditionState.SENT))
        .order_by(editions.c.number.desc())
        .limit(limit)
        .offset(offset)
    ).mappings()
    return [
        ArchiveEntry(
            number=row["number"],
            subject=row["subject"],
            scheduled_for=row["scheduled_for"],
            sent_at=row["sent_at"],
            story_count=len(row["stories"] or []),
            lead_title=_lead_title(row["stories"]),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class PausedEdition:
    """A paused edition and why it was paused (the reason its pauser recorded)."""

    id: int
    number: int | None
    reason: str


def list_paused(conn: Connection, /) -> list[PausedEdition]:
    """Every paused edition, oldest first."""
    rows = conn.execute(
        select(editions.c.id, editions.c.number, editions.c.reason)
        .where(editions.c.state == str(EditionState.PAUSED))
        .order_by(editions.c.id)
    )
    return [PausedEdition(row.id, row.number, row.reason or "") for row in rows]


def _lead_title(stories: list[dict[str, Any]] | None) -> str:
    first = (stories or [{}])[0]
    return str(first.get("title") or "") if isinstance(first, dict) else ""


def unfinished_edition(conn: Connection, /) -> tuple[int | None, str] | None:
    """(number, state) of an edition still queued, sending or paused — its stories are not sent yet."""
    row = conn.execute(
        select(editions.c.number, editions.c.state)
        .where(
            editions.c.state.in_([EditionState.QUEUED, EditionState.SENDING, EditionState.PAUSED])
        )
        .order_by(editions.c.id)
        .limit(1)
    ).first()
    return None if row is None else (row.number, str(row.state))

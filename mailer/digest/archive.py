"""The public archive: sent editions listed, one edition as its readers got it, a seminar session's calendar.

An edition page is the frozen HTML part of the mail, so it looks exactly like the
mail; its personal-field markers are filled with neutral values, never with a real
subscriber's token or address. An edition is public once mail has gone out
(sending, paused or sent): a reader who got it while the rest was still being
delivered can already follow "view in browser". The list shows sent editions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mailer.digest.seminar import session_ics
from mailer.digest.seminar_document import active_block
from mailer.digest.web_copy import without_personal_links
from mailer.errors import NotFoundError
from mailer.models import EditionState, PersonalField
from mailer.render import fill_personal_fields, korean_date
from mailer.store import editions as edition_store

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext

#: States in which an edition has reached at least one reader.
PUBLIC_STATES = frozenset({EditionState.SENDING, EditionState.PAUSED, EditionState.SENT})

#: The largest number that can name an edition: PostgreSQL's INTEGER (2**31-1), which
#: also keeps SQLite's driver from overflowing (it refuses above 2**63-1).
MAX_EDITION_NUMBER = 2**31 - 1

NEUTRAL_EMAIL = "구독자 (subscriber)"


@dataclass(frozen=True, slots=True)
class ArchiveItem:
    """One line of the public archive list; ``date`` is the sending day, in Korean, local time."""

    number: int
    subject: str
    date: str
    story_count: int
    #: The edition's first headline, shown under its number ("" without news).
    lead_title: str = ""


@dataclass(frozen=True, slots=True)
class CalendarFile:
    """An RFC 5545 calendar with one seminar session, and the file name to offer it under."""

    filename: str
    text: str


def neutral_values(base_url: str, /) -> dict[PersonalField, str]:
    """Values for the markers on a public page: the signup page instead of a personal
    link (web_copy drops the sentences around them), and no name or address."""
    subscribe = f"{base_url}/subscribe"
    return {
        PersonalField.UNSUBSCRIBE_URL: subscribe,
        PersonalField.PREFERENCES_URL: subscribe,
        PersonalField.NAME: "",
        PersonalField.EMAIL: NEUTRAL_EMAIL,
    }


def archive_items(ctx: AppContext, /) -> list[ArchiveItem]:
    """Sent editions, newest first."""
    zone = ctx.settings.zone
    with ctx.engine.connect() as conn:
        entries = edition_store.list_sent(conn)
    return [
        ArchiveItem(
            number=entry.number,
            subject=entry.subject,
            date=korean_date((entry.sent_at or entry.scheduled_for).astimezone(zone)),
            story_count=entry.story_count,
            lead_title=entry.lead_title,
        )
        for entry in entries
    ]


def public_edition_html(ctx: AppContext, number: int, /) -> str | None:
    """Edition ``number``'s page in the look of the mail, or None unless it went out.

    A number outside the database's integer range cannot name an edition; it is
    answered like any missing one instead of reaching the driver (which overflows).
    """
    if not 1 <= number <= MAX_EDITION_NUMBER:
        return None
    with ctx.engine.connect() as conn:
        edition = edition_store.find_by_number(conn, number)
    if edition is None or edition.state not in PUBLIC_STATES:
        return None
    base_url = ctx.settings.base_url
    page = without_personal_links(edition.html, base_url)
    return fill_personal_fields(page, neutral_values(base_url), html=True)


def seminar_calendar(
    ctx: AppContext, session_id: str, /, *, now: datetime | None = None
) -> CalendarFile:
    """The calendar file of one seminar session (Asia/Seoul).

    Raises NotFoundError for an unknown session (or no seminar block) and
    ConfigError when the block cannot be read.
    """
    settings = ctx.settings
    with ctx.engine.connect() as conn:
        seminar = active_block(conn, settings).seminar
    if seminar is None:
        raise NotFoundError("seminar session", session_id)
    session = seminar.session(session_id)
    domain = settings.compliance.from_address.rpartition("@")[2] or "localhost"
    text = session_ics(seminar, session, dtstamp=now or datetime.now(UTC), uid_domain=domain)
    return CalendarFile(filename=f"seminar-{session.id}.ics", text=text)

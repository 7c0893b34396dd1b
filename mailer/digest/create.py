"""The digest step: select the week's stories, render them and freeze them into an edition.

``create_edition`` is idempotent under the edition key (schedule, scheduled time):
a second call, a retry or another process racing it gets the edition that exists
and creates nothing (design §4 "Editions"). ``preview_edition`` renders the next
edition the same way without storing anything. The rendered parts carry the
personal-field markers described in :mod:`mailer.render`; ``sample_message`` fills
them for a sample subscriber.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from mailer.config import Settings
from mailer.digest.sections import Section, group_into_sections
from mailer.digest.seminar import Seminar, load_seminar
from mailer.errors import ConfigError, InvalidInputError, StoreError, TemplateError
from mailer.mail import Recipient, personalise, prepare_edition
from mailer.models import Edition, EditionState, Links, PersonalField, StoryView
from mailer.render.sandbox import (
    MARKER_VARIABLES,
    MailRenderer,
    defuse_markers,
    english_date,
    korean_date,
    korean_month_day,
    plain_summary,
)
from mailer.schedules.crontab import trigger_for
from mailer.store import editions as edition_store
from mailer.store.schedules import list_schedules
from mailer.store.stories import select_candidates

if TYPE_CHECKING:  # the context is built by bootstrap, one rung up; only its type is needed
    from mailer.context import AppContext

log = logging.getLogger("mailer.digest")

HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"
SUBJECT_TEMPLATE = "digest.subject.j2"

#: 정보통신망법 제50조④ / 시행령 별표 6: "(광고)" at the very start of the subject.
ADVERTISEMENT_PREFIX = "(광고)"

#: The subscriber an ``eml`` preview is addressed to (example.com is reserved, RFC 2606).
SAMPLE_EMAIL = "reader@example.com"
SAMPLE_NAME = "홍길동"
SAMPLE_TOKEN = "sample-subscriber-token"

_CREATE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class RenderedEdition:
    """An edition rendered but not (yet) stored: what create_edition freezes and preview shows."""

    number: int
    schedule: str
    scheduled_for: datetime
    state: EditionState
    subject: str
    html: str
    text: str
    sections: list[Section]
    reason: str | None = None
    stories: list[StoryView] = field(default_factory=list)

    def story_records(self) -> list[dict[str, Any]]:
        """The frozen story list stored with the edition (plain JSON)."""
        return [
            {
                **story.as_json(),
                "also_reported_by": list(story.also_reported_by),
                "section": story.section,
                "story_id": story.story_id,
                "member_ids": list(story.member_ids or (story.story_id,)),
            }
            for story in self.stories
        ]

    def story_positions(self) -> list[tuple[int, int]]:
        """(story id, position) for edition_stories: every member of each cluster, so
        none of them is selected again once the edition is sent."""
        pairs: list[tuple[int, int]] = []
        seen: set[int] = set()
        for position, story in enumerate(self.stories):
            for story_id in story.member_ids or (story.story_id,):
                if story_id not in seen:
                    seen.add(story_id)
                    pairs.append((story_id, position))
        return pairs


# --- use cases ---------------------------------------------------------------------------


def create_edition(
    ctx: AppContext, /, *, schedule: str, scheduled_for: datetime, now: datetime | None = None
) -> Edition:
    """Create the edition of (schedule, scheduled_for), or return the one that exists.

    The new edition is ``draft`` (ready for the send step to queue), or ``skipped``
    with a recorded reason when there is nothing to send and
    ``digest.send_when_empty`` is false. A concurrent creator is resolved by the
    unique key: the loser's insert fails, it rolls back and returns the winner's row.
    """
    if scheduled_for.tzinfo is None:
        raise InvalidInputError("scheduled_for must carry a time zone", field="scheduled_for")
    if not schedule.strip():
        raise InvalidInputError("schedule name must not be empty", field="schedule")
    now = now or datetime.now(UTC)
    for _attempt in range(_CREATE_ATTEMPTS):
        try:
            with ctx.engine.begin() as conn:
                existing = edition_store.find_by_key(
                    conn, schedule=schedule, scheduled_for=scheduled_for
                )
                if existing is not None:
                    return existing
                rendered = render_edition(
                    conn,
                    ctx.settings,
                    renderer=mail_renderer(ctx),
                    number=edition_store.next_number(conn),
                    schedule=schedule,
                    scheduled_for=scheduled_for,
                    now=now,
                )
                edition = edition_store.insert_edition(
                    conn,
                    number=rendered.number,
                    schedule=schedule,
                    scheduled_for=scheduled_for,
                    state=rendered.state,
                    subject=rendered.subject,
                    html=rendered.html,
                    text=rendered.text,
                    stories=rendered.story_records(),
                    reason=rendered.reason,
                    created_at=now,
                    story_positions=rendered.story_positions(),
                )
        except IntegrityError:
            # Another process inserted first: either this very edition (return it) or
            # another edition that took the number we computed (try the next number).
            with ctx.engine.connect() as conn:
                existing = edition_store.find_by_key(
                    conn, schedule=schedule, scheduled_for=scheduled_for
                )
            if existing is not None:
                return existing
            continue
        log.info(
            "edition %s (%s %s) created: %s, %d stories",
            edition.number,
            schedule,
            scheduled_for.isoformat(),
            edition.state,
            len(edition.stories),
        )
        return edition
    raise StoreError(f"could not create edition {schedule} {scheduled_for.isoformat()}: busy")


def preview_edition(
    ctx: AppContext, /, *, schedule: str = "digest", now: datetime | None = None
) -> RenderedEdition:
    """Render the next edition of ``schedule`` as if it were created now; store nothing."""
    now = now or datetime.now(UTC)
    with ctx.engine.connect() as conn:
        scheduled_for = next_scheduled_time(conn, schedule, now=now)
        rendered = render_edition(
            conn,
            ctx.settings,
            renderer=mail_renderer(ctx),
            number=edition_store.next_number(conn),
            schedule=schedule,
            scheduled_for=scheduled_for,
            now=now,
        )
        conn.rollback()
    return rendered


def mail_renderer(ctx: AppContext, /) -> MailRenderer:
    """The process's renderer (templates are compiled once and reloaded when edited)."""
    return ctx.mail_renderer.get()


def next_scheduled_time(conn: Connection, schedule: str, /, *, now: datetime) -> datetime:
    """When ``schedule`` fires next after ``now``; ``now`` itself if there is no such schedule."""
    for row in list_schedules(conn):
        if row["name"] == schedule:
            try:
                trigger = trigger_for(row)
            except InvalidInputError as exc:
                raise ConfigError(f"schedule {schedule}: {exc}") from exc
            fire = trigger.get_next_fire_time(None, now)
            return fire.astimezone(UTC) if fire else now
    return now


# --- selection and rendering ---------------------------------------------------------------


def render_edition(
    conn: Connection,
    settings: Settings,
    /,
    *,
    renderer: MailRenderer,
    number: int,
    schedule: str,
    scheduled_for: datetime,
    now: datetime,
) -> RenderedEdition:
    """Select the stories, group them and render subject, HTML and text for edition ``number``."""
    digest = settings.digest
    since = now - timedelta(days=digest.max_age_days)
    candidates = select_candidates(conn, since=since, limit=digest.max_stories)
    sections = group_into_sections(
        candidates, sections=digest.sections, fallback=digest.fallback_section
    )
    stories = [story for section in sections for story in section.stories]
    seminar = load_seminar_of(settings)
    state, reason = EditionState.DRAFT, None
    if not stories and not digest.send_when_empty:
        zone = settings.zone
        state = EditionState.SKIPPED
        reason = (
            f"새 소식 없음 — no relevant stories since {since.astimezone(zone):%Y-%m-%d %H:%M} "
            f"({settings.timezone}); digest.send_when_empty is false"
        )
    context = edition_context(
        settings, sections=sections, seminar=seminar, number=number, scheduled_for=scheduled_for
    )
    subject = renderer.render_line(SUBJECT_TEMPLATE, context)
    if not subject:
        raise TemplateError("the subject came out empty", template=SUBJECT_TEMPLATE)
    return RenderedEdition(
        number=number,
        schedule=schedule,
        scheduled_for=scheduled_for,
        state=state,
        subject=subject_line(subject, advertisement=settings.compliance.advertisement),
        html=renderer.render_html(HTML_TEMPLATE, context),
        text=renderer.render_text(TEXT_TEMPLATE, context, width=digest.text_width),
        sections=sections,
        reason=reason,
        stories=stories,
    )


def load_seminar_of(settings: Settings, /) -> Seminar | None:
    path = settings.digest.seminar_path(settings.config_dir)
    return load_seminar(path) if path is not None else None


def subject_line(subject: str, /, *, advertisement: bool) -> str:
    """Put "(광고)" first when the digest counts as advertising (정보통신망법 제50조④)."""
    if advertisement and not subject.startswith(ADVERTISEMENT_PREFIX):
        return f"{ADVERTISEMENT_PREFIX} {subject}"
    return subject


def _http_url(url: str) -> str:
    """Only http(s) URLs become links: autoescape does not stop ``javascript:`` in href."""
    return url if url.lower().startswith(("http://", "https://")) else ""


def _clean(text: str) -> str:
    """Feed text for a template: one line, and unable to forge a personal-field marker."""
    return defuse_markers(" ".join(text.split()))


def story_context(story: StoryView, /, *, index: int, zone: ZoneInfo, summary_chars: int) -> dict:
    published = story.published.astimezone(zone)
    return {
        "index": index,
        "title": _clean(story.title) or "(제목 없음)",
        "url": defuse_markers(_http_url(story.url.strip())),
        "source": _clean(story.source),
        "date": korean_month_day(published),
        "date_full": korean_date(published),
        "published": published.isoformat(),
        "summary": defuse_markers(plain_summary(story.summary, limit=summary_chars)),
        "also_reported_by": [_clean(name) for name in story.also_reported_by],
    }


def seminar_context(seminar: Seminar, /, *, now: datetime, links: Links) -> dict:
    contact = seminar.contact
    sessions = []
    for session in seminar.upcoming(now):
        time = f"{session.starts:%H:%M}"
        if session.ends is not None:
            time += f"–{session.ends:%H:%M}"
        sessions.append(
            {
                "id": session.id,
                "number": session.number,
                "title": session.title,
                "date": korean_date(session.starts),
                "date_en": english_date(session.starts),
                "time": time,
                "venue": session.venue,
                "ics_url": links.seminar_ics(session.id),
            }
        )
    apply_subject = quote(f"[참가 신청] {seminar.title}")
    return {
        "title": seminar.title,
        "title_en": seminar.title_en,
        "host": seminar.host,
        "organiser": seminar.organiser,
        "venue": seminar.venue,
        "venue_address": seminar.venue_address,
        "summary": seminar.summary,
        "summary_en": seminar.summary_en,
        "apply": seminar.apply,
        "apply_en": seminar.apply_en,
        "apply_url": seminar.apply_url or f"mailto:{contact.email}?subject={apply_subject}",
        "sessions": sessions,
        "contact": {
            "organisation": contact.organisation,
            "department": contact.department,
            "phone": contact.phone,
            "tel_url": contact.tel_url,
            "email": contact.email,
        },
    }


def edition_context(
    settings: Settings,
    /,
    *,
    sections: list[Section],
    seminar: Seminar | None,
    number: int,
    scheduled_for: datetime,
) -> dict[str, Any]:
    """Everything the three digest templates see: plain data only (render.ensure_plain)."""
    zone = settings.zone
    links = Links(settings.base_url)
    compliance = settings.compliance
    local = scheduled_for.astimezone(zone)
    index = 0
    section_items = []
    for section in sections:
        items = []
        for story in section.stories:
            index += 1
            items.append(
                story_context(
                    story, index=index, zone=zone, summary_chars=settings.digest.summary_chars
                )
            )
        section_items.append({"title": section.title, "count": len(items), "stories": items})
    lead = section_items[0]["stories"][0]["title"] if section_items else ""
    return {
        "list_name": compliance.list_name,
        "edition": {
            "number": number,
            "date": korean_date(local),
            "date_short": korean_month_day(local),
            "date_en": english_date(local),
        },
        "story_count": index,
        "sections": section_items,
        "lead_title": lead,
        "archive_url": links.archive(number),
        "archive_index_url": links.archive_index(),
        "subscribe_url": links.subscribe(),
        "seminar": (seminar_context(seminar, now=scheduled_for, links=links) if seminar else None),
        "sender": {
            "name": compliance.sender_name,
            "name_en": compliance.sender_name_en,
            "postal_address": compliance.postal_address,
            "phone": compliance.phone,
            "email": compliance.email,
        },
        "reason": compliance.reason,
        "reason_en": compliance.reason_en,
        "advertisement": compliance.advertisement,
        **MARKER_VARIABLES,
    }


# --- outputs ---------------------------------------------------------------------------


def edition_json(rendered: RenderedEdition, /, *, zone: ZoneInfo | None = None) -> dict[str, Any]:
    """What ``digest preview --format json`` prints (design §3); times in ``zone`` if given."""
    scheduled_for = rendered.scheduled_for.astimezone(zone) if zone else rendered.scheduled_for
    return {
        "subject": rendered.subject,
        "number": rendered.number,
        "schedule": rendered.schedule,
        "scheduled_for": scheduled_for.isoformat(),
        "state": str(rendered.state),
        "reason": rendered.reason,
        "sections": [
            {"title": section.title, "count": len(section.stories)} for section in rendered.sections
        ],
        "stories": [story.as_json() for story in rendered.stories],
    }


def sample_values(settings: Settings, /) -> dict[PersonalField, str]:
    """Personal fields of the sample subscriber a preview is addressed to."""
    links = Links(settings.base_url)
    return {
        PersonalField.UNSUBSCRIBE_URL: links.unsubscribe(SAMPLE_TOKEN),
        PersonalField.PREFERENCES_URL: links.preferences(SAMPLE_TOKEN),
        PersonalField.NAME: SAMPLE_NAME,
        PersonalField.EMAIL: SAMPLE_EMAIL,
    }


def sample_message(
    settings: Settings, /, *, subject: str, html: str, text: str, date: datetime | None = None
) -> bytes:
    """The complete message, as bytes on the wire, that a sample subscriber would receive.

    This is the ONE place a preview builds its MIME message; it goes through the send
    step's own builder (headers, List-Unsubscribe, encoding) so the preview is what is sent.
    The edition has no id yet, so the fixed Message-ID uses 0 for edition and subscriber.
    """
    edition = {"id": 0, "subject": subject, "html": html, "text": text}
    prepared = prepare_edition(settings, edition, date=date)
    recipient = Recipient(subscriber_id=0, email=SAMPLE_EMAIL, name=SAMPLE_NAME, token=SAMPLE_TOKEN)
    return personalise(prepared, recipient)

"""Render an edition's subject, HTML and text from its selected stories (nothing is stored here).

The templates (``templates/email/digest.*.j2``, staff-editable) see plain data only:
:func:`edition_context` builds it from the selection and the seminar and sender
block (its active version in the database; without one, the seminar file and
``[compliance]``). Text from feeds is made safe on the way in — one line, only
http(s) links, unable to forge a personal-field marker — and the parts come out with
the markers the send step fills per subscriber (:mod:`mailer.render.markers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from mailer.config import Settings
from mailer.digest.sections import Section
from mailer.digest.select import Selection, select_stories, skip_reason
from mailer.digest.seminar import Seminar, load_seminar_of
from mailer.digest.seminar_document import Block, active_block
from mailer.errors import TemplateError
from mailer.models import EditionState, Links, Sender, StoryView
from mailer.render import (
    MARKER_VARIABLES,
    defuse_markers,
    english_date,
    korean_date,
    korean_month_day,
    plain_summary,
)
from mailer.store import editions as edition_store
from mailer.store import template_versions as template_store

if TYPE_CHECKING:  # built by bootstrap (the renderer lazily, so Jinja2 loads only with it)
    from mailer.context import AppContext
    from mailer.render import MailRenderer

HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"
SUBJECT_TEMPLATE = "digest.subject.j2"
#: The templates an edition is rendered from, whose versions it records.
DIGEST_TEMPLATES = (SUBJECT_TEMPLATE, HTML_TEMPLATE, TEXT_TEMPLATE)

#: 정보통신망법 제50조④ / 시행령 별표 6: "(광고)" at the very start of the subject.
ADVERTISEMENT_PREFIX = "(광고)"


@dataclass(frozen=True, slots=True)
class RenderedEdition:
    """An edition rendered but not (yet) stored: what create_edition freezes and preview shows.

    A skipped edition has no number and empty parts, except in a preview, which shows
    staff the mail as it would look under the next number.
    """

    number: int | None
    schedule: str
    scheduled_for: datetime
    state: EditionState
    subject: str
    html: str
    text: str
    sections: list[Section]
    reason: str | None = None
    stories: list[StoryView] = field(default_factory=list)
    #: {template name: version number} it was rendered from; None when the database
    #: holds no versions (``mailer init`` not run): then the files were used.
    template_versions: dict[str, int] | None = None

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


def render_next_edition(
    ctx: AppContext,
    /,
    *,
    schedule: str,
    scheduled_for: datetime,
    now: datetime,
    preview: bool = False,
    overrides: dict[str, str] | None = None,
) -> RenderedEdition:
    """Select the stories of an edition made at ``now`` and render it under the next number.

    The selection, the number and the active template versions are read in one reading
    transaction, which ends before the templates run: rendering never holds a
    transaction open (design §4 "Security rules"), so a slow template delays nobody's
    page or write. An edition that will be skipped is not rendered and takes no number
    (issue 15 item 3), unless ``preview``. ``overrides`` (unsaved sources, the template
    editor's preview) go over the active versions.
    """
    with ctx.engine.connect() as conn:
        selection = select_stories(conn, ctx.settings, now=now)
        number = edition_store.next_number(conn)
        block = active_block(conn, ctx.settings)  # the seminar and sender staff saved last
        active = template_store.active_sources(conn)
    used = {name: active[name][0] for name in DIGEST_TEMPLATES if name in active} or None
    sources = {name: active[name][1] for name in DIGEST_TEMPLATES if name in active}
    sources.update(overrides or {})
    reason = skip_reason(selection, ctx.settings)
    if reason is not None and not preview:
        return RenderedEdition(
            number=None,
            schedule=schedule,
            scheduled_for=scheduled_for,
            state=EditionState.SKIPPED,
            subject="",
            html="",
            text="",
            sections=selection.sections,
            reason=reason,
        )
    rendered = render_edition(
        selection,
        ctx.settings,
        renderer=digest_renderer(ctx, sources),
        number=number,
        schedule=schedule,
        scheduled_for=scheduled_for,
        block=block,
    )
    return replace(rendered, template_versions=used)


def digest_renderer(ctx: AppContext, sources: dict[str, str], /) -> MailRenderer:
    """The digest's renderer over ``sources`` (the active versions; the files for the rest),
    on the process's shared render pool."""
    from mailer.render import MailRenderer

    return MailRenderer(
        ctx.settings.templates_dir / "email",
        overrides=sources,
        max_bytes=ctx.settings.digest.max_part_bytes,
        pool=ctx.render_pool.get(),
    )


def render_edition(
    selection: Selection,
    settings: Settings,
    /,
    *,
    renderer: MailRenderer,
    number: int,
    schedule: str,
    scheduled_for: datetime,
    block: Block | None = None,
) -> RenderedEdition:
    """Render subject, HTML and text of edition ``number`` from its selected stories."""
    reason = skip_reason(selection, settings)
    if block is None:  # no block read from the database: the files, as before
        block = Block(seminar=load_seminar_of(settings), sender=Sender.of(settings.compliance))
    context = edition_context(
        settings,
        sections=selection.sections,
        seminar=block.seminar,
        sender=block.sender,
        number=number,
        scheduled_for=scheduled_for,
    )
    subject = renderer.render_line(SUBJECT_TEMPLATE, context)
    if not subject:
        raise TemplateError("the subject came out empty", template=SUBJECT_TEMPLATE)
    return RenderedEdition(
        number=number,
        schedule=schedule,
        scheduled_for=scheduled_for,
        state=EditionState.DRAFT if reason is None else EditionState.SKIPPED,
        subject=subject_line(subject, advertisement=block.sender.advertisement),
        html=renderer.render_html(HTML_TEMPLATE, context),
        text=renderer.render_text(TEXT_TEMPLATE, context, width=settings.digest.text_width),
        sections=selection.sections,
        reason=reason,
        stories=selection.stories,
    )


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
                "speakers": session.speakers,
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


def next_session_context(seminar: Seminar | None, /, *, now: datetime, year: int) -> dict | None:
    """The first session still to come, for the subject: its own date, never the send date.

    The date carries its weekday, and its year when that is not the edition's
    (a December edition announcing a March session), so the subject cannot be read as
    a seminar on the day the mail arrives (issue 15 item 4).
    """
    upcoming = seminar.upcoming(now) if seminar else []
    if not upcoming:
        return None
    session = upcoming[0]
    date = korean_date(session.starts)
    return {
        "number": session.number,
        "title": session.title,
        "date": date,
        "date_short": date.removeprefix(f"{year}년 "),
    }


def edition_context(
    settings: Settings,
    /,
    *,
    sections: list[Section],
    seminar: Seminar | None,
    number: int,
    scheduled_for: datetime,
    sender: Sender | None = None,
) -> dict[str, Any]:
    """Everything the three digest templates see: plain data only (render.ensure_plain)."""
    zone = settings.zone
    links = Links(settings.base_url)
    compliance = settings.compliance
    sender = sender or Sender.of(compliance)
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
        "next_session": next_session_context(seminar, now=scheduled_for, year=local.year),
        "sender": {
            "name": sender.name,
            "name_en": sender.name_en,
            "postal_address": sender.postal_address,
            "phone": sender.phone,
            "email": sender.email,
        },
        "reason": sender.reason,
        "reason_en": sender.reason_en,
        "advertisement": sender.advertisement,
        **MARKER_VARIABLES,
    }

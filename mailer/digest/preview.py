"""Preview the next edition: render it as if it were created now, store nothing, show it as sent.

``preview_edition`` renders exactly what ``create_edition`` would freeze; the parts
carry the personal-field markers (:mod:`mailer.render.markers`), which
``sample_message`` fills for a sample subscriber to give the message as it goes out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from mailer.config import Settings
from mailer.digest.rendering import RenderedEdition, render_next_edition
from mailer.mail import Recipient, personalise, prepare_edition
from mailer.models import Links, PersonalField
from mailer.render import fill_personal_fields

if TYPE_CHECKING:  # the context is built by bootstrap, one rung up; only its type is needed
    from mailer.context import AppContext

#: The subscriber an ``eml`` preview is addressed to (example.com is reserved, RFC 2606).
SAMPLE_EMAIL = "reader@example.com"
SAMPLE_NAME = "홍길동"
SAMPLE_TOKEN = "sample-subscriber-token"


def preview_edition(
    ctx: AppContext,
    /,
    *,
    scheduled_for: datetime,
    schedule: str = "digest",
    now: datetime | None = None,
) -> RenderedEdition:
    """Render the edition of (``schedule``, ``scheduled_for``) as if created ``now``; store nothing.

    The caller says when the edition is due (the schedules step knows when ``schedule``
    fires next); the number is the one the next created edition would get.
    """
    now = now or datetime.now(UTC)
    return render_next_edition(
        ctx, schedule=schedule, scheduled_for=scheduled_for, now=now, preview=True
    )


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


def sample_part(part: str, settings: Settings, /, *, html: bool) -> str:
    """One rendered part (HTML or text) with the sample subscriber's values in its markers."""
    return fill_personal_fields(part, sample_values(settings), html=html)


def sample_message(
    settings: Settings, /, *, subject: str, html: str, text: str, date: datetime | None = None
) -> bytes:
    """The complete message, as bytes on the wire, that a sample subscriber would receive.

    This is the ONE place a preview builds its MIME message; it goes through the send
    step's own builder (headers, List-Unsubscribe, encoding) so the preview is what is sent.
    The edition has no id yet, so the fixed Message-ID uses 0 for edition and subscriber
    and says "preview" where a sent copy has the installation's random part.
    """
    edition = {"id": 0, "subject": subject, "html": html, "text": text}
    prepared = prepare_edition(settings, edition, message_id_part="preview", date=date)
    recipient = Recipient(subscriber_id=0, email=SAMPLE_EMAIL, name=SAMPLE_NAME, token=SAMPLE_TOKEN)
    return personalise(prepared, recipient)

"""Public archive pages (/archive, /archive/{number}) and seminar calendar files (/seminar/{id}.ics).

An edition page is the frozen HTML part of the mail, so it looks exactly like the
mail; its personal-field markers are filled with neutral values, never with a real
subscriber's token or address. An edition is public once mail has gone out
(sending, paused or sent): a reader who got it while the rest was still being
delivered can already follow "view in browser". The list shows sent editions.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from mailer.context import AppContext
from mailer.digest import load_seminar_of, session_ics
from mailer.errors import ConfigError, NotFoundError
from mailer.models import EditionState, PersonalField
from mailer.render import fill_personal_fields, korean_date
from mailer.store import editions as edition_store
from mailer.web.deps import app_context, pages, storable_number

log = logging.getLogger("mailer.web.archive")

router = APIRouter()

#: States in which an edition has reached at least one reader.
PUBLIC_STATES = frozenset({EditionState.SENDING, EditionState.PAUSED, EditionState.SENT})

#: The archive copy is shown to anyone; scripts are never needed, so none may run
#: (defence in depth behind escaping: the page carries text from feeds).
ARCHIVE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

NEUTRAL_EMAIL = "구독자 (subscriber)"


def neutral_values(base_url: str) -> dict[PersonalField, str]:
    """Values for the markers on a public page: the home page (which explains how to
    subscribe and unsubscribe) instead of a personal link, and no name or address."""
    home = f"{base_url}/"
    return {
        PersonalField.UNSUBSCRIBE_URL: home,
        PersonalField.PREFERENCES_URL: home,
        PersonalField.NAME: "",
        PersonalField.EMAIL: NEUTRAL_EMAIL,
    }


def _missing(request: Request, context: AppContext, message: str, message_en: str) -> HTMLResponse:
    return pages(request).TemplateResponse(
        request,
        "archive_missing.html",
        {
            "list_name": context.settings.compliance.list_name,
            "message": message,
            "message_en": message_en,
        },
        status_code=404,
    )


@router.get("/archive", response_class=HTMLResponse)
def archive_index(request: Request, context: AppContext = Depends(app_context)) -> HTMLResponse:
    """Sent editions, newest first."""
    zone = context.settings.zone
    with context.engine.connect() as conn:
        entries = edition_store.list_sent(conn)
    items = [
        {
            "number": entry.number,
            "subject": entry.subject,
            "date": korean_date((entry.sent_at or entry.scheduled_for).astimezone(zone)),
            "story_count": entry.story_count,
        }
        for entry in entries
    ]
    return pages(request).TemplateResponse(
        request,
        "archive_list.html",
        {"list_name": context.settings.compliance.list_name, "entries": items},
    )


@router.get("/archive/{number}", response_class=HTMLResponse)
def archive_edition(
    number: int, request: Request, context: AppContext = Depends(app_context)
) -> HTMLResponse:
    """One edition in the look of the mail.

    A number outside the database's integer range cannot name an edition; it gets the
    same 404 page as any missing one instead of reaching the driver (which overflows).
    """
    edition = None
    if storable_number(number):
        with context.engine.connect() as conn:
            edition = edition_store.find_by_number(conn, number)
    if edition is None or edition.state not in PUBLIC_STATES:
        return _missing(
            request,
            context,
            f"제{number}호는 아직 발송되지 않았거나 없는 호입니다.",
            f"Edition {number} has not been sent or does not exist.",
        )
    page = fill_personal_fields(edition.html, neutral_values(context.settings.base_url), html=True)
    return HTMLResponse(page, headers={"Content-Security-Policy": ARCHIVE_CSP})


@router.get("/seminar/{session_id}.ics")
def seminar_calendar(
    session_id: str, request: Request, context: AppContext = Depends(app_context)
) -> Response:
    """An RFC 5545 calendar file with one seminar session (Asia/Seoul)."""
    settings = context.settings
    try:
        seminar = load_seminar_of(settings)
        if seminar is None:
            raise NotFoundError("seminar session", session_id)
        session = seminar.session(session_id)
    except NotFoundError:
        return _missing(
            request,
            context,
            "해당 세미나 일정을 찾을 수 없습니다.",
            "No such seminar session.",
        )
    except ConfigError as exc:
        # The detail (a path, a key) is for staff, in the log; the public gets a plain 503.
        log.error("seminar calendar unavailable: %s", exc)
        return Response(
            "세미나 일정을 잠시 제공할 수 없습니다. / The seminar calendar is unavailable.\n",
            status_code=503,
            media_type="text/plain; charset=utf-8",
        )
    domain = settings.compliance.from_address.rpartition("@")[2] or "localhost"
    body = session_ics(seminar, session, dtstamp=datetime.now(UTC), uid_domain=domain)
    return Response(
        body.encode("utf-8"),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="seminar-{session.id}.ics"'},
    )

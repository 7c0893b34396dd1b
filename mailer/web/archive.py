"""Public archive pages (/archive, /archive/{number}) and seminar calendar files (/seminar/{id}.ics).

The pages show what the digest's archive use case hands over (its database reads run
through ``context.database``, never on the event loop); this module only chooses the answer: the page, a 404 page for a missing edition or session, a plain
503 when the seminar file is broken (its detail goes to the log, for staff).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from mailer.digest import archive_items, public_edition_html, seminar_calendar
from mailer.errors import ConfigError, NotFoundError
from mailer.web.deps import Context
from mailer.web.i18n import choose_language
from mailer.web.pages import Pages, PublicPages

log = logging.getLogger("mailer.web.archive")

router = APIRouter()

#: The archive copy is shown to anyone; scripts are never needed, so none may run
#: (defence in depth behind escaping: the page carries text from feeds). Unlike every
#: other page it may be framed by our own origin: the staff admin shows editions in a
#: sandboxed iframe. It has no form and no token, so framing cannot be abused; other
#: sites still cannot frame it. (The other security headers come from ``web.headers``.)
ARCHIVE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


def _missing(request: Request, pages: PublicPages, message: str, message_en: str) -> Response:
    """The archive's 404 page, in the visitor's language."""
    lang = choose_language(request)
    return pages.render(
        request,
        "archive_missing.html",
        lang,
        {"message": message if lang == "ko" else message_en},
        status=404,
    )


@router.get("/archive", response_class=HTMLResponse)
async def archive_index(request: Request, context: Context, pages: Pages) -> Response:
    """Sent editions, newest first."""
    items = [
        {
            "number": item.number,
            "subject": item.subject,
            "date": item.date,
            "story_count": item.story_count,
            "lead_title": item.lead_title,
        }
        for item in await context.database.run(archive_items, context)
    ]
    return pages.render(request, "archive_list.html", choose_language(request), {"entries": items})


@router.get("/archive/{number}", response_class=HTMLResponse)
async def archive_edition(
    number: int, request: Request, context: Context, pages: Pages
) -> Response:
    """One edition in the look of the mail."""
    page = await context.database.run(public_edition_html, context, number)
    if page is None:
        return _missing(
            request,
            pages,
            f"제{number}호는 아직 발송되지 않았거나 없는 호입니다.",
            f"Edition {number} has not been sent or does not exist.",
        )
    return HTMLResponse(page, headers={"Content-Security-Policy": ARCHIVE_CSP})


@router.get("/seminar/{session_id}.ics")
async def seminar_calendar_file(
    session_id: str, request: Request, context: Context, pages: Pages
) -> Response:
    """An RFC 5545 calendar file with one seminar session (Asia/Seoul)."""
    try:
        calendar = await context.database.run(seminar_calendar, context, session_id)
    except NotFoundError:
        return _missing(
            request,
            pages,
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
    return Response(
        calendar.text.encode("utf-8"),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{calendar.filename}"'},
    )

"""Development page: the messages the built-in outbox received (``/outbox``).

The page lists every message with its confirm and unsubscribe links, so it exists only
where nobody else can reach it (issue 11 item 6): in development, with the built-in
outbox (no relay), on a server bound to a loopback address with no reverse proxy in
front. ``mailer serve --host 0.0.0.0`` (the Dockerfile's command) never serves it.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from mailer.config import Settings
from mailer.errors import NotFoundError
from mailer.mail import list_outbox, read_outbox_message
from mailer.public_url import is_loopback
from mailer.web.deps import Context, Templates

router = APIRouter()


def outbox_allowed(settings: Settings, listen_host: str | None) -> bool:
    """Whether the app bound to ``listen_host`` may serve ``/outbox`` (``app.create_app`` asks).

    A trusted reverse proxy in front makes even a loopback server public, so
    ``web.trusted_proxies`` turns the page off too.
    """
    return (
        settings.env == "development"
        and settings.smtp.uses_outbox
        and not settings.web.trusted_proxies
        and is_loopback(listen_host)
    )


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(request: Request, context: Context, templates: Templates) -> HTMLResponse:
    """The newest messages first: subject, sender, recipients, date, size."""
    directory = context.settings.outbox_dir
    messages = list_outbox(directory)
    return templates.TemplateResponse(
        request,
        "outbox.html",
        {
            "list_name": context.settings.compliance.list_name,
            "messages": messages,
            "directory": str(directory),
        },
    )


@router.get("/outbox/{key}", response_class=PlainTextResponse)
def outbox_message(key: str, context: Context) -> PlainTextResponse:
    """One message as it arrived (headers and encoded body), for checking what was sent."""
    directory = context.settings.outbox_dir
    try:
        data = read_outbox_message(directory, key)
    except NotFoundError:
        raise HTTPException(status_code=404) from None
    return PlainTextResponse(data.decode("utf-8", errors="replace"))

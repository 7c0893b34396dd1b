"""Development page: the messages the built-in outbox received (``/outbox``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from mailer.context import AppContext
from mailer.errors import NotFoundError
from mailer.mail import list_outbox, read_outbox_message
from mailer.web.deps import Context, Templates

router = APIRouter()


def _outbox_dir(context: AppContext) -> Path:
    """The outbox folder; 404 unless this is a development service using the outbox.

    The page shows subscribers' addresses, so it exists only where the outbox itself
    does: in development, with no relay configured.
    """
    settings = context.settings
    if settings.env != "development" or not settings.smtp.uses_outbox:
        raise HTTPException(status_code=404)
    return settings.outbox_dir


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(request: Request, context: Context, templates: Templates) -> HTMLResponse:
    """The newest messages first: subject, sender, recipients, date, size."""
    directory = _outbox_dir(context)
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
    directory = _outbox_dir(context)
    try:
        data = read_outbox_message(directory, key)
    except NotFoundError:
        raise HTTPException(status_code=404) from None
    return PlainTextResponse(data.decode("utf-8", errors="replace"))

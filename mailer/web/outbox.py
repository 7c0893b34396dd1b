"""Development page: the messages the built-in outbox received (``/outbox``).

The page lists every message with its confirm and unsubscribe links, so it exists only
where nobody else can reach it (issue 11 item 6): in development, with the built-in
outbox (no relay), on a server bound to a loopback address with no reverse proxy in
front. ``mailer serve --host 0.0.0.0`` (the Dockerfile's command) never serves it.

It shows mail as a reader sees it (issue 15 item 10): headers decoded, dates in
``MAILER_TIMEZONE``, each message's HTML part in a sandboxed iframe, its text part, and
the raw message at ``/outbox/{key}/raw``.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from mailer.config import Settings
from mailer.errors import NotFoundError
from mailer.mail import (
    OutboxMail,
    OutboxMessage,
    list_outbox,
    read_outbox_mail,
    read_outbox_message,
)
from mailer.public_url import is_loopback
from mailer.render import local_time
from mailer.web.deps import Context, Templates
from mailer.web.headers import DEFAULT_CSP

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


#: The detail page shows the HTML part in an iframe of our own origin, so unlike the
#: other pages it may frame (``frame-src 'self'``); the rest is ``web.headers``' policy.
OUTBOX_PAGE_CSP = DEFAULT_CSP + "; frame-src 'self'"

#: The HTML part of a message: never a script (the ``sandbox`` directive holds even when
#: the part is opened on its own, outside the iframe's sandbox attribute), no remote
#: image or style (a development machine fetches nothing for a mail), framed only by
#: the outbox page. Links open in a new tab (``<base target>``, see ``_opening_links_outside``).
OUTBOX_PART_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(request: Request, context: Context, templates: Templates) -> HTMLResponse:
    """The newest messages first: subject, sender, recipients (decoded), local date, size."""
    settings = context.settings
    return templates.TemplateResponse(
        request,
        "outbox.html",
        {
            "list_name": settings.compliance.list_name,
            "messages": [_shown(message, settings) for message in list_outbox(settings.outbox_dir)],
            "directory": str(settings.outbox_dir),
        },
    )


@router.get("/outbox/{key}", response_class=HTMLResponse)
def outbox_message(
    key: str, request: Request, context: Context, templates: Templates
) -> HTMLResponse:
    """One message: decoded headers, the HTML part in a sandboxed iframe, the text part."""
    settings = context.settings
    mail = _mail(settings, key)
    return templates.TemplateResponse(
        request,
        "outbox_message.html",
        {
            "list_name": settings.compliance.list_name,
            "message": _shown(mail.message, settings),
            "text": mail.text,
            "has_html": mail.html is not None,
        },
        headers={"Content-Security-Policy": OUTBOX_PAGE_CSP},
    )


@router.get("/outbox/{key}/html", response_class=HTMLResponse)
def outbox_html_part(key: str, context: Context) -> HTMLResponse:
    """The message's HTML part, decoded, for the iframe of the message page."""
    html = _mail(context.settings, key).html
    if html is None:
        raise HTTPException(status_code=404)
    return HTMLResponse(
        _opening_links_outside(html), headers={"Content-Security-Policy": OUTBOX_PART_CSP}
    )


@router.get("/outbox/{key}/raw", response_class=PlainTextResponse)
def outbox_raw_message(key: str, context: Context) -> PlainTextResponse:
    """One message as it arrived (headers and encoded body), for checking what was sent."""
    try:
        data = read_outbox_message(context.settings.outbox_dir, key)
    except NotFoundError:
        raise HTTPException(status_code=404) from None
    return PlainTextResponse(data.decode("utf-8", errors="replace"))


def _mail(settings: Settings, key: str) -> OutboxMail:
    try:
        return read_outbox_mail(settings.outbox_dir, key)
    except NotFoundError:
        raise HTTPException(status_code=404) from None


def _shown(message: OutboxMessage, settings: Settings) -> dict[str, object]:
    """What the pages print of a message: its date in the configured zone (MAILER_TIMEZONE)."""
    when = local_time(message.sent_at, settings.zone) if message.sent_at else message.date
    return {
        "key": message.key,
        "subject": message.subject,
        "sender": message.sender,
        "recipients": message.recipients,
        "date": when,
        "size": message.size,
    }


_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)


def _opening_links_outside(html: str) -> str:
    """The part with ``<base target="_blank">``: a link followed inside the iframe would
    open one of our pages there, and they refuse to be framed (``frame-ancestors 'none'``)."""
    base = '<base target="_blank">'
    head = _HEAD.search(html)
    if head is None:
        return base + html
    return html[: head.end()] + base + html[head.end() :]

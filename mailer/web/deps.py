"""Shared web plumbing: the page template environment and the typed FastAPI dependencies.

``create_app`` builds each service once and keeps it on ``app.state``; a handler asks
for one by type, e.g. ``async def page(context: Context, templates: Templates)``. The
dependency functions are ``async`` on purpose: FastAPI runs a plain ``def`` dependency
in its thread pool, a thread hop per dependency per request for a mere attribute read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from mailer.config import Settings
from mailer.context import AppContext, MailBell
from mailer.particles import with_particle
from mailer.web.forms import Csrf


def page_templates(settings: Settings) -> Jinja2Templates:
    """Our own page templates (not staff-edited), autoescaped, with the ``josa`` filter
    that puts the right Korean particle after an inserted name (``mailer.particles``)."""
    # The admin's templates are ``admin/NAME`` under the templates directory; they
    # extend the public ``base.html``, so both share one look.
    templates = Jinja2Templates(
        directory=[str(settings.templates_dir / "web"), str(settings.templates_dir)]
    )
    templates.env.filters["josa"] = with_particle
    return templates


async def app_context(request: Request) -> AppContext:
    """FastAPI dependency: the AppContext this app was built with."""
    return request.app.state.context


async def pages(request: Request) -> Jinja2Templates:
    """FastAPI dependency: the one page template environment ``create_app`` built."""
    return request.app.state.pages


async def mail_bell(request: Request) -> MailBell:
    """FastAPI dependency: rung after a commit that queued a notice mail.

    The HTTP answer never waits for SMTP: the delivery worker this app runs (its
    lifespan, see ``web.app``) claims the notice at once instead of at its next poll.
    With ``mailer serve --no-worker`` nobody listens here, and a ``mailer worker``
    process finds the notice at its next poll.
    """
    return request.app.state.context.mail_bell


async def csrf_guard(request: Request) -> Csrf:
    """FastAPI dependency: the double-submit CSRF tokens of this app's forms."""
    return request.app.state.csrf


Context = Annotated[AppContext, Depends(app_context)]
Templates = Annotated[Jinja2Templates, Depends(pages)]
Bell = Annotated[MailBell, Depends(mail_bell)]
CsrfGuard = Annotated[Csrf, Depends(csrf_guard)]

"""Shared web plumbing: the page template environment and typed FastAPI dependencies."""

from __future__ import annotations

from fastapi import Request
from fastapi.templating import Jinja2Templates

from mailer.bootstrap import AppContext
from mailer.config import Settings


def page_templates(settings: Settings) -> Jinja2Templates:
    """Our own page templates (not staff-edited), autoescaped."""
    return Jinja2Templates(directory=str(settings.templates_dir / "web"))


def app_context(request: Request) -> AppContext:
    """FastAPI dependency: the AppContext this app was built with."""
    return request.app.state.context

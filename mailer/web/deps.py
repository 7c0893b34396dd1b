"""Shared web plumbing: the page template environment and typed FastAPI dependencies."""

from __future__ import annotations

from fastapi import Request
from fastapi.templating import Jinja2Templates

from mailer.config import Settings
from mailer.context import AppContext

#: The largest number a path or query parameter may carry to the database: the
#: INTEGER range of PostgreSQL (2**31-1), which also keeps SQLite's driver from
#: overflowing (it refuses above 2**63-1) — beyond it nothing can exist.
DB_INTEGER_MAX = 2**31 - 1


def storable_number(number: int) -> bool:
    """Whether a positive integer from a URL can name a database row at all."""
    return 1 <= number <= DB_INTEGER_MAX


def page_templates(settings: Settings) -> Jinja2Templates:
    """Our own page templates (not staff-edited), autoescaped."""
    return Jinja2Templates(directory=str(settings.templates_dir / "web"))


def pages(request: Request) -> Jinja2Templates:
    """FastAPI dependency: the one page template environment ``create_app`` built."""
    return request.app.state.pages


def app_context(request: Request) -> AppContext:
    """FastAPI dependency: the AppContext this app was built with."""
    return request.app.state.context

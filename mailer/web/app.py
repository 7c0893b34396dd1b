"""Build the FastAPI application for one AppContext: health, home page and the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from mailer import __version__
from mailer.context import AppContext
from mailer.web import archive, outbox, signup, unsubscribe
from mailer.web.deps import Context, Templates, page_templates
from mailer.web.forms import Csrf
from mailer.web.health import health
from mailer.web.notice_runner import NoticeRunner
from mailer.web.pages import PublicPages


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The notice runner lives exactly as long as the app serves."""
    runner: NoticeRunner = app.state.notice_runner
    runner.start()
    try:
        yield
    finally:
        await runner.stop()


router = APIRouter()


@router.get("/healthz")
def healthz(context: Context) -> JSONResponse:
    """Liveness and readiness: the database answers and its schema is current.

    status is "error" (503) when the database is unusable, and "degraded" (still 200)
    when no scheduler is alive: see ``mailer.web.health``.
    """
    state = health(context)
    body = {"status": state.status, "version": __version__, "checks": state.checks}
    return JSONResponse(body, status_code=503 if state.status == "error" else 200)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, context: Context, templates: Templates) -> HTMLResponse:
    compliance = context.settings.compliance
    return templates.TemplateResponse(
        request, "home.html", {"list_name": compliance.list_name, "sender": compliance.sender_name}
    )


def create_app(context: AppContext) -> FastAPI:
    """The app and, on its ``state``, the services its handlers ask for (see ``web.deps``)."""
    settings = context.settings
    app = FastAPI(
        title="mailer", version=__version__, docs_url=None, redoc_url=None, lifespan=_lifespan
    )
    app.state.context = context
    # One template environment for every router (its loader caches compiled templates).
    app.state.pages = templates = page_templates(settings)
    app.state.csrf = csrf = Csrf(settings.secret(), secure=settings.base_url.startswith("https://"))
    app.state.public_pages = PublicPages(settings, templates, csrf)
    app.state.notice_runner = NoticeRunner(context)
    app.include_router(router)
    for module in (archive, outbox, signup, unsubscribe):
        app.include_router(module.router)
    return app

"""Build the FastAPI application for one AppContext: health, home page and the routers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from mailer import __version__
from mailer.bootstrap import AppContext
from mailer.errors import StoreError
from mailer.store import db
from mailer.web.deps import page_templates
from mailer.web.public import public_router


def create_app(context: AppContext) -> FastAPI:
    app = FastAPI(title="mailer", version=__version__, docs_url=None, redoc_url=None)
    app.state.context = context
    templates = page_templates(context.settings)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """Liveness and readiness: the database answers and its schema is current."""
        checks: dict[str, object] = {}
        healthy = True
        try:
            db.check_database(context.engine)
            checks["database"] = "ok"
        except StoreError as exc:
            checks["database"] = str(exc)
            healthy = False
        body = {"status": "ok" if healthy else "error", "version": __version__, "checks": checks}
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        settings = context.settings
        return templates.TemplateResponse(
            request,
            "home.html",
            {"list_name": settings.compliance.list_name, "sender": settings.compliance.sender_name},
        )

    app.include_router(public_router(context))
    return app

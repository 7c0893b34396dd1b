"""Build the FastAPI application for one AppContext: health, home page and the routers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from mailer import __version__
from mailer.context import AppContext
from mailer.errors import StoreError
from mailer.schedules import scheduler_liveness
from mailer.store import db
from mailer.web import outbox
from mailer.web.archive import router as archive_router
from mailer.web.deps import page_templates
from mailer.web.public import public_router


def create_app(context: AppContext) -> FastAPI:
    app = FastAPI(title="mailer", version=__version__, docs_url=None, redoc_url=None)
    app.state.context = context
    # One template environment for every router (its loader caches compiled templates).
    templates = app.state.pages = page_templates(context.settings)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """Liveness and readiness: the database answers and its schema is current.

        status is "error" (503) when the database is unusable, and "degraded" (still
        200) when no scheduler has recorded a heartbeat within scheduler.stale_after:
        this process can serve pages, but schedules are not firing. A stale scheduler
        must not fail the web's own health check — the scheduler may run in another
        container that waits for the web to be healthy before it starts.
        """
        checks: dict[str, object] = {}
        status = "ok"
        try:
            db.check_database(context.engine)
            checks["database"] = "ok"
        except StoreError as exc:
            checks["database"] = str(exc)
            checks["scheduler"] = "unknown: the database is not usable"
            status = "error"
        if status == "ok":
            liveness = scheduler_liveness(context)
            checks["scheduler"] = "ok" if liveness.alive else f"stale: {liveness.message}"
            if not liveness.alive:
                status = "degraded"
        body = {"status": status, "version": __version__, "checks": checks}
        return JSONResponse(body, status_code=503 if status == "error" else 200)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        settings = context.settings
        return templates.TemplateResponse(
            request,
            "home.html",
            {"list_name": settings.compliance.list_name, "sender": settings.compliance.sender_name},
        )

    app.include_router(archive_router)
    app.include_router(outbox.router)
    app.include_router(public_router(context, templates))
    return app

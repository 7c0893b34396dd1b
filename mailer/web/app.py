"""Build the FastAPI application for one AppContext: health, home page, the routers, and the process's delivery worker."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from mailer import __version__
from mailer.context import AppContext
from mailer.errors import StoreError
from mailer.schedules.edit import scheduler_liveness
from mailer.store import db
from mailer.web import outbox
from mailer.web.archive import router as archive_router
from mailer.web.deps import page_templates
from mailer.web.public import public_router

log = logging.getLogger("mailer.serve")


def create_app(context: AppContext, *, worker: bool = True) -> FastAPI:
    """The app; with ``worker`` its lifespan runs a delivery worker (digests and notices) in this process.

    ``mailer serve --no-worker`` passes ``worker=False``: mail then waits for a
    ``mailer worker`` process.
    """
    app = FastAPI(
        title="mailer",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=_delivery_worker(context) if worker else None,
    )
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


def _delivery_worker(context: AppContext):
    """A lifespan that runs the delivery worker while the app serves, and stops it cleanly.

    Stopping finishes the messages on the wire and gives back the rest, so the
    built-in outbox (stopped after the server) receives everything sent.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        from mailer.delivery import run_worker

        stop = asyncio.Event()
        task = asyncio.create_task(run_worker(context, stop=stop), name="delivery-worker")
        task.add_done_callback(_report_worker_end)
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(task, return_exceptions=True)

    return lifespan


def _report_worker_end(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the delivery worker stopped", exc_info=task.exception())

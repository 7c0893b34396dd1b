"""Build the FastAPI application for one AppContext: health, metrics, home page, the routers, the edge middleware, and the process's delivery worker."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp

from mailer import __version__
from mailer.context import AppContext
from mailer.metrics_readings import CONTENT_TYPE as METRICS_CONTENT_TYPE
from mailer.metrics_readings import metrics_text
from mailer.web import admin, archive, my_data, outbox, signup, unsubscribe
from mailer.web.client_address import ClientAddressMiddleware, TrustedProxies
from mailer.web.deps import Context, page_templates
from mailer.web.forms import Csrf
from mailer.web.head import HeadAsGetMiddleware
from mailer.web.headers import SecurityHeadersMiddleware
from mailer.web.health import OwnWorker, health
from mailer.web.i18n import choose_language
from mailer.web.outbox import outbox_allowed
from mailer.web.pages import Pages, PublicPages
from mailer.web.static_files import StaticAssets

log = logging.getLogger("mailer.serve")


router = APIRouter()


@router.get("/healthz")
async def healthz(request: Request, context: Context) -> JSONResponse:
    """Liveness and readiness: "ok", "degraded" (200) or "down" (503), and which check failed.

    Down when the database is unusable or this process's own delivery worker has
    stopped; degraded when the write lock is busy, no scheduler or send worker beats, an
    edition is paused or mail is stuck: see ``mailer.web.health``. One check runs at a
    time: a probe may wait for the write lock, and a flood of /healthz must not hold
    every database thread the pages need.
    """
    own = _own_worker(request.app)
    async with request.app.state.health_turn:
        state = await context.database.run(health, context, own_worker=own)
    body = {
        "status": state.status,
        "version": __version__,
        "checks": state.checks,
        "failed": state.failed,
        "workers": state.workers,
    }
    return JSONResponse(body, status_code=503 if state.status == "down" else 200)


@router.get("/metrics")
async def metrics(request: Request, context: Context) -> Response:
    """Prometheus text format: this process's counters and the whole system's state from the database.

    The database part is read at scrape time in one reading transaction, off the event
    loop and one scrape at a time (like /healthz), so a flood of scrapes holds one
    database thread at most.
    """
    async with request.app.state.metrics_turn:
        text = await context.database.run(metrics_text, context)
    return Response(text, media_type=METRICS_CONTENT_TYPE)


def _own_worker(app: FastAPI) -> OwnWorker | None:
    """This process's delivery worker as health sees it; None when the app runs none."""
    task: asyncio.Task | None = getattr(app.state, "delivery_worker", None)
    if task is None:
        return None
    if not task.done():
        return OwnWorker()
    if task.cancelled():
        return OwnWorker("the delivery worker of this process was cancelled")
    error = task.exception()
    if error is None:
        return OwnWorker("the delivery worker of this process ended while the app serves")
    # The error's first line only: a traceback's worth of text does not belong in a probe.
    reason = str(error).partition("\n")[0][:300]
    return OwnWorker(
        f"the delivery worker of this process stopped: {error.__class__.__name__}: {reason}"
    )


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, pages: Pages) -> Response:
    """The home page, in the header, footer and language of the other public pages."""
    return pages.render(request, "home.html", choose_language(request))


class MailerApp(FastAPI):
    """FastAPI with our edge middleware around the whole stack, Starlette's error handler included.

    Middleware added with ``add_middleware`` runs inside ``ServerErrorMiddleware``, so
    the 500 page of a crash would leave without security headers; these wrap it.
    The outermost sets the client address first (in the server's own scope, so the
    access log names the same client the rate limits and the consent ledger see).
    """

    proxies = TrustedProxies([], header="x-forwarded-for")

    def build_middleware_stack(self) -> ASGIApp:
        stack = HeadAsGetMiddleware(super().build_middleware_stack())
        return ClientAddressMiddleware(SecurityHeadersMiddleware(stack), proxies=self.proxies)


def create_app(
    context: AppContext, *, worker: bool = True, listen_host: str | None = None
) -> FastAPI:
    """The app; with ``worker`` its lifespan runs a delivery worker (digests and notices) in this process.

    ``mailer serve --no-worker`` passes ``worker=False``: mail then waits for a
    ``mailer worker`` process. ``listen_host`` is the address the server binds: the
    development ``/outbox`` exists only on a loopback one (``outbox.outbox_allowed``).
    """
    app = MailerApp(
        title="mailer",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=_delivery_worker(context) if worker else None,
    )
    settings = context.settings
    app.proxies = TrustedProxies(settings.web.trusted_proxies, header=settings.web.proxy_header)
    app.state.context = context
    app.state.health_turn = asyncio.Lock()
    app.state.metrics_turn = asyncio.Lock()
    # One template environment for every router (its loader caches compiled templates).
    app.state.pages = templates = page_templates(settings)
    # The vendored front-end files (htmx, the template editor), no CDN (issue 12 item 3);
    # pages link them as {{ static_url("vendor/htmx.min.js") }}, a URL that changes with
    # the file, so browsers may cache each for a year.
    # Compressed for clients that accept it: the editor bundle shrinks from about
    # 580 KB to 200 KB, and with a year of caching each browser fetches it once.
    static = StaticAssets()
    app.mount("/static", GZipMiddleware(static, compresslevel=6), name="static")
    templates.env.globals["static_url"] = static.url
    app.state.csrf = csrf = Csrf(settings.secret(), secure=settings.base_url.startswith("https://"))
    app.state.public_pages = PublicPages(settings, templates, csrf)
    app.include_router(router)
    admin.install(app)
    for module in (archive, my_data, signup, unsubscribe):
        app.include_router(module.router)
    if outbox_allowed(settings, listen_host):
        app.include_router(outbox.router)
    app.add_exception_handler(OperationalError, _database_busy)
    return app


#: What SQLite says when a writer gave up waiting for the lock (its busy timeout).
_LOCK_TIMEOUTS = ("database is locked", "database is busy")


async def _database_busy(request: Request, exc: Exception) -> Response:
    """A write lock held past SQLite's busy timeout: 503 with Retry-After, not a bare 500.

    Writes are short, so a lock held that long is an outage, not load: a mail
    provider's one-click POST (RFC 8058) told to retry is retried, and a reader is
    told honestly that nothing happened (the transaction was rolled back). Any other
    database error is a crash and stays one (Starlette's 500). Only the error's first
    line is logged: SQLAlchemy appends the statement's parameters, which may hold an
    address.
    """
    reason = str(getattr(exc, "orig", exc)).partition("\n")[0]
    if not reason.startswith(_LOCK_TIMEOUTS):
        raise exc
    log.warning(
        "database write lock busy for %s %s: %s",
        request.method,
        request.url.path,
        reason[:200],
    )
    return request.app.state.public_pages.busy(request, choose_language(request))


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
        # /healthz answers "down" once this task has ended while the app still serves.
        _app.state.delivery_worker = task
        try:
            yield
        finally:
            _app.state.delivery_worker = None
            stop.set()
            await asyncio.gather(task, return_exceptions=True)

    return lifespan


def _report_worker_end(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the delivery worker stopped", exc_info=task.exception())

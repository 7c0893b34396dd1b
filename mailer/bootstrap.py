"""Build the application context from Settings: the one module that knows every part."""

from __future__ import annotations

import hashlib

from mailer.config import Settings
from mailer.context import AppContext, Lazy
from mailer.keys import IdentityKeys
from mailer.store import db
from mailer.store.installation import check_secret
from mailer.store.offloop import DatabaseRunner


def build_context(settings: Settings) -> AppContext:
    """Connect to the store described by ``settings``; does not migrate (see ``init``)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(settings.database_url)
    secret = settings.secret()
    # One pool of render processes serves both renderers, started on the first render.
    render_pool = Lazy(lambda: _render_pool(settings))
    return AppContext(
        settings=settings,
        engine=engine,
        database=DatabaseRunner(engine),
        rate_limit_key=hashlib.sha256(b"mailer-rate-limit:" + secret.encode()).digest(),
        keys=IdentityKeys(secret),
        render_pool=render_pool,
        mail_renderer=Lazy(lambda: _mail_renderer(settings, render_pool.get(), engine)),
        notice_renderer=Lazy(lambda: _notice_renderer(settings, render_pool.get(), engine)),
        dkim_signer=Lazy(lambda: _dkim_signer(settings)),
        build_notice=_build_notice,
    )


def require_database(ctx: AppContext, /) -> None:
    """Raise StoreError (saying why) unless the database answers and its schema is current.

    Entry points ask before they start work, so that a database ``mailer init`` has not
    set up is reported as such instead of as a driver error about a missing table.
    """
    db.check_database(ctx.engine)
    with ctx.engine.connect() as conn:
        check_secret(conn, ctx.keys.check)


def refuse_another_secret(ctx: AppContext, /) -> None:
    """Raise ConfigError when the database was set up with another secret key.

    Every command that opens the database asks this first (README "Secret key"): with
    another key, serve would mail links that open nothing and a worker would no longer
    recognise suppressed addresses. A database that cannot be read yet (not set up,
    unreachable) passes: ``mailer init`` sets it up, and other commands report it.
    """
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with ctx.engine.connect() as conn:
            check_secret(conn, ctx.keys.check)
    except SQLAlchemyError:
        return


def database_write_problem(ctx: AppContext, /) -> str | None:
    """None when a writer could start now; else why not, found within a short bound.

    On SQLite: whether the write lock can be had within ``db.WRITE_PROBE_SECONDS``,
    far less than a writer's busy timeout — a lock held that long means every write
    (a one-click unsubscribe among them) is waiting.
    """
    return db.probe_write_lock(ctx.engine)


def _render_pool(settings: Settings):
    from mailer.render import RenderPool

    limits = settings.render
    return RenderPool(
        timeout_seconds=limits.timeout_seconds,
        memory_mb=limits.memory_mb,
        processes=limits.processes,
    )


def _active_sources(engine, /, *, digest: bool) -> dict[str, str]:
    """The active template versions staff saved: the digest's or the notices' (empty before init)."""
    from mailer.store.template_versions import active_sources

    with engine.connect() as conn:
        active = active_sources(conn)
    return {
        name: source
        for name, (_number, source) in active.items()
        if name.startswith("digest.") == digest
    }


def _mail_renderer(settings: Settings, pool, engine, /):
    # The digest step renders editions with the versions it reads in its own reading
    # transaction (digest.rendering); this renderer is for other callers of the
    # digest templates, which see the active versions too.
    from mailer.render import LiveMailRenderer

    return LiveMailRenderer(
        settings.templates_dir / "email",
        sources=lambda: _active_sources(engine, digest=True),
        max_bytes=settings.digest.max_part_bytes,
        pool=pool,
    )


def _notice_renderer(settings: Settings, pool, engine, /):
    from mailer.render import notice_renderer

    return notice_renderer(
        settings.templates_dir / "email",
        max_bytes=settings.digest.max_part_bytes,
        pool=pool,
        sources=lambda: _active_sources(engine, digest=False),
    )


def _dkim_signer(settings: Settings):
    from mailer.mail import load_dkim

    return load_dkim(settings)


# The subscribers step's notice builder, handed to the delivery worker through the
# context and imported on first use: a command that sends no mail never loads it.


def _build_notice(ctx: AppContext, notice, /, *, now):
    from mailer.subscribers import build_notice

    return build_notice(ctx, notice, now=now)

"""The ``init`` use case: migrate the schema and seed defaults; running it twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from mailer.feeds import feeds_file, load_feed_list
from mailer.models import retention_days_text
from mailer.store import db
from mailer.store.consent_texts import seed_consent_texts
from mailer.store.db import write_transaction
from mailer.store.feeds import seed_feeds
from mailer.store.installation import bind_secret
from mailer.store.schedules import ensure_schedule
from mailer.store.seminar_versions import seed_from_files as seed_seminar_block
from mailer.store.template_versions import seed_shipped

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext

#: (name, kind, cron, grace seconds). The digest goes out Monday 09:00 local time;
#: a missed digest is still sent up to 6 hours late (design §4 "Schedules").
DEFAULT_SCHEDULES = (
    ("poll", "poll", "*/30 * * * *", 15 * 60),
    ("digest", "digest", "0 9 * * mon", 6 * 3600),
    ("reconfirm", "reconfirm", "0 10 * * *", 12 * 3600),
    ("purge", "purge", "30 3 * * *", 12 * 3600),
)


@dataclass
class InitReport:
    revision_before: str | None
    revision_after: str
    seeded: list[str] = field(default_factory=list)
    #: What init did not change but the operator should know (a shipped template that
    #: changed while staff have their own version active).
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.revision_before != self.revision_after or bool(self.seeded)


def initialise(ctx: AppContext) -> InitReport:
    """Create or upgrade the schema, then insert whatever default is missing."""
    before, after = db.upgrade(ctx.engine, secret=ctx.settings.secret())
    report = InitReport(revision_before=before, revision_after=after)
    settings = ctx.settings
    with write_transaction(ctx.engine) as conn:
        # From now on this database answers only to this secret key (links, suppressions).
        if bind_secret(conn, ctx.keys.check):
            report.seeded.append("secret key check")
        for name, kind, cron, grace in DEFAULT_SCHEDULES:
            if ensure_schedule(
                conn, name, kind=kind, cron=cron, timezone=settings.timezone, grace_seconds=grace
            ):
                report.seeded.append(f"schedule {name}")
        retention = retention_days_text(settings.subscriptions)
        for version in seed_consent_texts(conn, settings.config_dir, retention_days=retention):
            report.seeded.append(f"consent text {version}")
        report.seeded.extend(seed_default_feeds(conn, settings.config_dir))
        # Version 1 of the block staff edit at /admin/seminar; the files stay the defaults.
        if seed_seminar_block(conn, settings, now=datetime.now(UTC)):
            report.seeded.append("seminar block version 1")
        templates = seed_shipped(conn, settings.templates_dir / "email", now=datetime.now(UTC))
        report.seeded.extend(f"template {name}" for name in templates.seeded)
        report.notes.extend(
            f"template {name}: the shipped default changed; staff's version stays active "
            f"(`mailer templates reset {name}` takes the new default)"
            for name in templates.default_changed
        )
    return report


def seed_default_feeds(conn: Connection, config_dir: Path) -> list[str]:
    """Register the feeds of config/feeds.toml that were never seeded before."""
    path = feeds_file(config_dir)
    if not path.is_file():
        return []
    inserted = seed_feeds(conn, load_feed_list(path), now=datetime.now(UTC))
    return [f"feed {url}" for url in inserted]

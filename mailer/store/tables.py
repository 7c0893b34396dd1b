"""The database schema as SQLAlchemy Core tables; Alembic migrations create exactly these.

Times are stored as timezone-aware UTC. JSON columns hold lists and small dicts.
Every change here needs a new migration in ``migrations/versions`` (linear chain).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# The shared parts and the staff tables live in their own modules; they are imported
# here so that this module still names the whole schema (``UtcDateTime`` and the staff
# tables are used from here).
from mailer.store.columns import BigId, UtcDateTime, metadata  # noqa: F401
from mailer.store.columns import timestamp as _ts
from mailer.store.seminar_tables import seminar_versions  # noqa: F401
from mailer.store.staff_tables import staff_password_links, staff_sessions, staff_users  # noqa: F401
from mailer.store.template_tables import template_versions  # noqa: F401

feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("url", String(2000), nullable=False, unique=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("include_keywords", JSON, nullable=False, default=list),
    Column("exclude_keywords", JSON, nullable=False, default=list),
    Column("etag", String(500)),
    Column("last_modified", String(100)),
    Column("last_status", String(20)),
    Column("last_error", Text),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    _ts("next_attempt_at"),
    _ts("last_polled_at"),
    _ts("created_at", nullable=False),
    # What the last read warns about: garbled text, lost items or dates (issue 13).
    Column("warnings", JSON, nullable=False, default=list, server_default="[]"),
)

stories = Table(
    "stories",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("uid", String(2000), nullable=False, unique=True),
    Column("url", String(2000), nullable=False),
    Column("guid", String(2000)),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("source", String(200), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("cluster_key", String(200), nullable=False),
    Column("relevance", Float, nullable=False, default=0.0),
    Column("relevant", Boolean, nullable=False, default=False),
    Column("matched_keywords", JSON, nullable=False, default=list),
    _ts("published_at", nullable=False),
    _ts("first_seen_at", nullable=False),
    Index("ix_stories_published_at", "published_at"),
    Index("ix_stories_cluster_key", "cluster_key"),
)

story_sources = Table(
    "story_sources",
    metadata,
    Column("story_id", BigId, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True),
    Column("source", String(200), nullable=False),
    Column("url", String(2000), nullable=False),
    _ts("seen_at", nullable=False),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200)),
    Column("organisation", String(200)),
    Column("status", String(20), nullable=False),
    # The unsubscribe/preferences token is HMAC(secret, token_seed) (mailer/keys.py); only
    # its SHA-256 is kept, for the look-up. A new seed comes with re-consent (migration 0008).
    Column("token_seed", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("source", String(100), nullable=False, default="web"),
    Column("confirm_token_hash", String(64), index=True),
    _ts("confirm_expires_at"),
    _ts("confirm_sent_at"),
    _ts("created_at", nullable=False),
    _ts("confirmed_at"),
    _ts("consented_at"),
    _ts("unsubscribed_at"),
    _ts("reconfirm_due_at"),
    Index("ix_subscribers_status_id", "status", "id"),
    Index("ix_subscribers_reconfirm_due_at", "reconfirm_due_at"),
)

consent_texts = Table(
    "consent_texts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", String(40), nullable=False, unique=True),
    Column("text", Text, nullable=False),
    _ts("created_at", nullable=False),
    # The language the wording is in; signup pages show the text of their language.
    Column("language", String(8), nullable=False, default="ko", server_default="ko"),
)

consent_events = Table(
    "consent_events",
    metadata,
    Column("id", BigId, primary_key=True),
    # Kept (set NULL) when a subscriber is erased: the ledger outlives the person's data.
    Column("subscriber_id", BigId, ForeignKey("subscribers.id", ondelete="SET NULL")),
    Column("email_hash", String(64), nullable=False, index=True),
    Column("kind", String(30), nullable=False),
    _ts("at", nullable=False),
    Column("ip", String(64)),
    Column("user_agent", String(500)),
    Column("source", String(100)),
    Column("consent_version", String(40)),
    Column("detail", JSON, nullable=False, default=dict),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("email_hash", String(64), primary_key=True),
    Column("reason", String(30), nullable=False),
    _ts("at", nullable=False),
)

# Link tokens other than a subscriber's current one, by SHA-256: earlier tokens (still in
# old mail, so they unsubscribe forever: 정보통신망법 제50조) and short-lived data-access
# links mailed on request (issue 11, item 8). ``opens`` says what the token may do.
link_tokens = Table(
    "link_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "subscriber_id",
        BigId,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("opens", String(20), nullable=False),
    _ts("created_at", nullable=False),
    _ts("expires_at"),
)

# One row: what makes this installation itself. ``message_id_part`` is random, made once,
# and goes into every digest Message-ID, so another installation or a reset database
# never reuses one (issue 11, item 12); ``key_check`` ties the database to its secret.
installation = Table(
    "installation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id_part", String(32), nullable=False),
    Column("key_check", String(64)),
    _ts("created_at", nullable=False),
)

# Transactional mails about a subscription (confirmation, result notices, re-confirmation).
# Queued in the same transaction as the change they report, sent after the HTTP answer,
# retried while the relay is down. The address is kept only until the mail is sent.
notices = Table(
    "notices",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column(
        "subscriber_id", BigId, ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True
    ),
    Column("to_address", String(320)),
    Column("context", JSON, nullable=False, default=dict),
    # The delivery worker's state machine, as for deliveries (store/mail_queue.py).
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    _ts("next_attempt_at", nullable=False),
    # The worker holding the notice: its recovery makes a dead worker's in-flight notices
    # unknown, like its deliveries (migration 0007).
    Column("claimed_by", String(100)),
    _ts("claimed_at"),
    Column("last_code", Integer),
    Column("last_error", Text),
    _ts("created_at", nullable=False),
    _ts("sent_at"),
    Index("ix_notices_state_next", "state", "next_attempt_at"),
)

# Fixed-window counters shared by every web process (per IP, per address); keys are HMACs.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(100), primary_key=True),
    _ts("window_start", nullable=False),
    Column("count", Integer, nullable=False),
)

editions = Table(
    "editions",
    metadata,
    Column("id", Integer, primary_key=True),
    # The public number (제N호, /archive/N); NULL for a skipped edition (issue 15 item 3).
    Column("number", Integer, unique=True),
    Column("schedule", String(100), nullable=False),
    _ts("scheduled_for", nullable=False),
    Column("state", String(20), nullable=False),
    Column("subject", Text, nullable=False, default=""),
    Column("html", Text, nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("stories", JSON, nullable=False, default=list),
    Column("reason", Text),
    # {template name: version number} the edition was rendered from (NULL before 0013).
    Column("template_versions", JSON),
    _ts("created_at", nullable=False),
    _ts("queued_at"),
    _ts("sent_at"),
    UniqueConstraint("schedule", "scheduled_for", name="uq_editions_schedule_time"),
)

edition_stories = Table(
    "edition_stories",
    metadata,
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True),
    Column("story_id", BigId, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"), nullable=False),
    Column(
        "subscriber_id", BigId, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    _ts("next_attempt_at"),
    Column("last_code", Integer),
    Column("last_error", Text),
    Column("claimed_by", String(100)),
    _ts("claimed_at"),
    # When the first SMTP attempt started: the retry deadline (delivery.retry_for)
    # counts from here, like Mailman's deliver_until (migration 0004).
    _ts("first_attempt_at"),
    _ts("sent_at"),
    _ts("updated_at", nullable=False),
    UniqueConstraint("edition_id", "subscriber_id", name="uq_deliveries_edition_subscriber"),
    Index("ix_deliveries_edition_state", "edition_id", "state", "next_attempt_at"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("kind", String(30), nullable=False),
    Column("cron", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("grace_seconds", Integer, nullable=False, default=3600),
    _ts("updated_at", nullable=False),
)

schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("schedule", String(100), nullable=False),
    _ts("fire_time", nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("reason", Text),
    _ts("at", nullable=False),
    # Which scheduler process claimed the fire time, so that a claim left "running" by a
    # process that died can be told apart from one still at work (issue 6).
    Column("instance", String(200)),
    _ts("finished_at"),
    UniqueConstraint("schedule", "fire_time", name="uq_schedule_runs_schedule_fire"),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    _ts("expires_at", nullable=False),
)

heartbeats = Table(
    "heartbeats",
    metadata,
    Column("instance", String(200), primary_key=True),
    Column("role", String(30), nullable=False),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    _ts("started_at", nullable=False),
    _ts("seen_at", nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    _ts("created_at", nullable=False),
    _ts("last_used_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True),
    _ts("at", nullable=False),
    Column("actor", String(320), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(500)),
    Column("detail", JSON, nullable=False, default=dict),
    # Where a staff action came from (issue 12 item 8); NULL for jobs and the CLI.
    Column("client_address", String(45)),
    Index("ix_audit_log_action_at", "action", "at"),
    # The audit page's filters and its newest-first pages (migration 0015).
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor_at", "actor", "at"),
    Index("ix_audit_log_client_address_at", "client_address", "at"),
)

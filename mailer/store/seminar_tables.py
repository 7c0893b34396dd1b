"""The seminar block's versions: every save of the seminar and sender block is kept (issue 12 item 7, migration 0014).

One row per version; the whole block (series, sessions, contact and the sender's
compliance footer) is one JSON document, and exactly one version is active — the
one the digest, the calendar files and the notices' footer use.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Integer, String, Table

from mailer.store.columns import metadata
from mailer.store.columns import timestamp as _ts

seminar_versions = Table(
    "seminar_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", Integer, nullable=False, unique=True),
    Column("document", JSON, nullable=False),
    # The staff member's email, or "mailer init" for the version seeded from the files.
    Column("author", String(320), nullable=False),
    Column("note", String(500), nullable=False, default=""),
    _ts("created_at", nullable=False),
    Column("active", Boolean, nullable=False, default=False),
)

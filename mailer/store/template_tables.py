"""The mail templates' versions: every save, rollback, reset or import is a new numbered version of one template.

Issue 12 item 5 (migration 0013). The files under ``templates/email/`` are the shipped
defaults that ``mailer init`` seeds as version 1; exactly one version per name is
active (a partial unique index), and that one is what the digest and the notices
render with. ``editions.template_versions`` records the {name: number} an edition was
built from.
"""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, Index, Integer, String, Table, Text
from sqlalchemy.sql import expression

from mailer.store.columns import metadata
from mailer.store.columns import timestamp as _ts

#: Where a version came from.
ORIGINS = ("default", "editor", "rollback", "reset", "import")

template_versions = Table(
    "template_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    # 1, 2, 3 … per name.
    Column("number", Integer, nullable=False),
    Column("source", Text, nullable=False),
    # The staff member's address; NULL for a shipped default or the CLI's import.
    Column("author", String(320)),
    Column("note", Text, nullable=False, default=""),
    Column("origin", String(20), nullable=False),
    _ts("created_at", nullable=False),
    Column("active", Boolean, nullable=False, default=False),
    CheckConstraint(
        "origin IN ('default', 'editor', 'rollback', 'reset', 'import')", name="origin"
    ),
    Index("uq_template_versions_name_number", "name", "number", unique=True),
    # At most one active version per name (the store keeps it exactly one).
    Index(
        "uq_template_versions_active",
        "name",
        unique=True,
        sqlite_where=expression.column("active") == expression.true(),
        postgresql_where=expression.column("active") == expression.true(),
    ),
)

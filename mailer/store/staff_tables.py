"""The staff accounts' tables: users with their role and password hash, and one-time set-password links.

Issue 12 item 1 (migrations 0011 and 0012: sessions). A user's password hash is empty until the user
opens a set-password link; only the SHA-256 of a link's token is stored.
"""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Table

from mailer.store.columns import metadata
from mailer.store.columns import timestamp as _ts

#: The roles of issue 12 item 2; the database refuses any other.
ROLES = ("admin", "editor")

staff_users = Table(
    "staff_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    # argon2id in PHC string form ($argon2id$v=19$m=…); NULL until a password is set.
    Column("password_hash", String(200)),
    Column("role", String(20), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    # When the password last changed: sessions begun before it can be refused.
    _ts("password_set_at"),
    CheckConstraint("role IN ('admin', 'editor')", name="role"),
)

staff_password_links = Table(
    "staff_password_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    # NULL for a first-admin link: the account is created when the link is used.
    Column("user_id", Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), index=True),
    Column("purpose", String(20), nullable=False),
    _ts("created_at", nullable=False),
    _ts("expires_at", nullable=False),
    _ts("used_at"),
)

staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    # SHA-256 of the session cookie's value: a copy of the database opens no session.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column(
        "user_id",
        Integer,
        ForeignKey("staff_users.id", ondelete="CASCADE"),
        index=True,
        nullable=False,
    ),
    _ts("created_at", nullable=False),
    _ts("last_seen_at", nullable=False),
)

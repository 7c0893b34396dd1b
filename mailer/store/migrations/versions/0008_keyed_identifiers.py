"""keyed identifiers: hashed link tokens, HMAC address keys, the installation row

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-10 10:00:00

Issue 11, items 8, 9 and 12:

- ``subscribers.token`` (the plain unsubscribe/preferences token) goes. Each subscriber
  gets a random ``token_seed``; the current token is HMAC(secret, seed) and only its
  SHA-256 is kept (``token_hash``). The token in mail already sent is kept as a hash
  in ``link_tokens``, still opening preferences and unsubscribe, so every old link
  keeps working (정보통신망법 제50조: a refusal must be honoured; tokens never expire).
- ``suppressions.email_hash`` and ``consent_events.email_hash`` were SHA-256 of the
  address; they become HMAC(secret, that SHA-256), computed from the stored value,
  so every suppression stays in force without knowing the address.
- ``installation`` holds the random part of every Message-ID and a check value of the
  secret the keys above were made with.

The conversion needs MAILER_SECRET_KEY (``mailer init`` hands it to Alembic); a
database with rows to convert and no secret is refused with a clear error. There is
no downgrade: the plain values are gone by design.
"""

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

from mailer.errors import StoreError
from mailer.keys import IdentityKeys, new_token_seed, token_hash

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

subscribers = sa.table(
    "subscribers",
    sa.column("id", BigId),
    sa.column("token", sa.String),
    sa.column("token_seed", sa.String),
    sa.column("token_hash", sa.String),
)
suppressions = sa.table("suppressions", sa.column("email_hash", sa.String))
consent_events = sa.table("consent_events", sa.column("email_hash", sa.String))
link_tokens = sa.table(
    "link_tokens",
    sa.column("token_hash", sa.String),
    sa.column("subscriber_id", BigId),
    sa.column("opens", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
installation = sa.table(
    "installation",
    sa.column("id", sa.Integer),
    sa.column("message_id_part", sa.String),
    sa.column("key_check", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _now(dialect: str) -> datetime:
    # The schema stores naive UTC on SQLite (tables.UtcDateTime); this table is untyped.
    now = datetime.now(UTC)
    return now.replace(tzinfo=None) if dialect == "sqlite" else now


def upgrade() -> None:
    conn = op.get_bind()
    now = _now(conn.dialect.name)
    op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id_part", sa.String(length=32), nullable=False),
        sa.Column("key_check", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
    )
    op.create_table(
        "link_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", BigId, nullable=False),
        sa.Column("opens", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_link_tokens_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_link_tokens")),
    )
    op.create_index(op.f("ix_link_tokens_subscriber_id"), "link_tokens", ["subscriber_id"])
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("token_seed", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("token_hash", sa.String(length=64), nullable=True))

    keys = _keys_if_needed(conn)
    if keys is not None:
        _convert_address_keys(conn, keys)
        _convert_link_tokens(conn, keys, now)
    conn.execute(
        installation.insert().values(
            id=1,
            message_id_part=secrets.token_hex(8),
            key_check=keys.check if keys is not None else None,
            created_at=now,
        )
    )

    with op.batch_alter_table("subscribers") as batch:
        batch.drop_constraint("uq_subscribers_token", type_="unique")
        batch.drop_column("token")
        batch.alter_column("token_seed", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("token_hash", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint("uq_subscribers_token_hash", ["token_hash"])


def _keys_if_needed(conn: sa.Connection) -> IdentityKeys | None:
    """The keys to convert with, or None when there is nothing to convert."""
    secret = context.config.attributes.get("secret")
    if secret:
        return IdentityKeys(secret)
    for table in (subscribers, suppressions, consent_events):
        if conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
            raise StoreError(
                "migration 0008 converts stored tokens and address hashes with the secret "
                "key, and none was given: run `mailer init` with MAILER_SECRET_KEY set"
            )
    return None


def _convert_address_keys(conn: sa.Connection, keys: IdentityKeys) -> None:
    for table in (suppressions, consent_events):
        old = conn.execute(sa.select(table.c.email_hash).distinct()).scalars().all()
        if old:
            conn.execute(
                table.update()
                .where(table.c.email_hash == sa.bindparam("old"))
                .values(email_hash=sa.bindparam("new")),
                [{"old": value, "new": keys.address_key_of_digest(value)} for value in old],
            )


def _convert_link_tokens(conn: sa.Connection, keys: IdentityKeys, now: datetime) -> None:
    rows = conn.execute(sa.select(subscribers.c.id, subscribers.c.token)).all()
    if not rows:
        return
    # The token in mail already sent keeps opening what it opened (stored as its hash).
    conn.execute(
        link_tokens.insert(),
        [
            {
                "token_hash": token_hash(row.token),
                "subscriber_id": row.id,
                "opens": "preferences",
                "created_at": now,
            }
            for row in rows
        ],
    )
    fresh = []
    for row in rows:
        seed = new_token_seed()
        fresh.append({"b_id": row.id, "seed": seed, "hash": token_hash(keys.link_token(seed))})
    conn.execute(
        subscribers.update()
        .where(subscribers.c.id == sa.bindparam("b_id"))
        .values(token_seed=sa.bindparam("seed"), token_hash=sa.bindparam("hash")),
        fresh,
    )


def downgrade() -> None:
    raise NotImplementedError("0008 cannot be undone: the plain tokens and hashes are gone")

"""staff accounts: users get a role check and timestamps; one-time set-password links

Revision ID: 0011
Revises: 0010
Create Date: 2027-01-27 10:00:00

Issue 12 item 1: `mailer users add` creates a staff user without a password and prints
a one-time link (valid 24 h) that sets it; a fresh install prints a link that creates
the first admin. Only the SHA-256 of a link's token is stored. ``staff_users`` existed
since 0001 but nothing wrote to it; an existing row keeps its values and gets
``updated_at`` = ``created_at``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("password_set_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE staff_users SET updated_at = created_at")
    with op.batch_alter_table("staff_users") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_check_constraint("role", "role IN ('admin', 'editor')")
    op.create_table(
        "staff_password_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_password_links_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_password_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_password_links_token_hash")),
    )
    op.create_index(op.f("ix_staff_password_links_user_id"), "staff_password_links", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_password_links_user_id"), table_name="staff_password_links")
    op.drop_table("staff_password_links")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_constraint(op.f("ck_staff_users_role"), type_="check")
        batch.drop_column("password_set_at")
        batch.drop_column("updated_at")

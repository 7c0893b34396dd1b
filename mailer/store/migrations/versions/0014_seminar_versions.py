"""the seminar and sender block moves into the database, one row per version

Revision ID: 0014
Revises: 0013
Create Date: 2027-02-08 10:00:00

Issue 12 item 7: staff edit the seminar block and the compliance footer at
/admin/seminar; every save is a version (author, time, note) and one is active.
``mailer init`` seeds version 1 from config/seminar.toml and ``[compliance]``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seminar_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seminar_versions")),
        sa.UniqueConstraint("number", name=op.f("uq_seminar_versions_number")),
    )


def downgrade() -> None:
    op.drop_table("seminar_versions")

"""template versions: every saved mail template is a numbered version, one active per name; editions record theirs

Revision ID: 0013
Revises: 0012
Create Date: 2027-02-08 10:00:00

Issue 12 item 5: staff edit the mail templates in the admin; each save, rollback,
reset or import is a new version, and exactly one per name is active (a partial
unique index). ``mailer init`` seeds the shipped files as version 1.
``editions.template_versions`` ({name: number}) is NULL for editions made before.

0001 made a ``template_versions`` table (name, version, body, created_by) that
nothing wrote to; it is replaced, and any row in it is carried over (the highest
version of each name becomes the active one).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


OLD = sa.table(
    "template_versions",
    sa.column("name", sa.String),
    sa.column("version", sa.Integer),
    sa.column("body", sa.Text),
    sa.column("created_by", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    bind = op.get_bind()
    old_rows = [dict(row) for row in bind.execute(sa.select(OLD)).mappings()]
    op.drop_table("template_versions")
    new = op.create_table(
        "template_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "origin IN ('default', 'editor', 'rollback', 'reset', 'import')",
            name=op.f("ck_template_versions_origin"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_versions")),
    )
    op.create_index(
        "uq_template_versions_name_number", "template_versions", ["name", "number"], unique=True
    )
    op.create_index(
        "uq_template_versions_active",
        "template_versions",
        ["name"],
        unique=True,
        sqlite_where=sa.text("active = 1"),
        postgresql_where=sa.text("active"),
    )
    highest: dict[str, int] = {}
    for row in old_rows:
        highest[row["name"]] = max(highest.get(row["name"], 0), row["version"])
    if old_rows:
        op.bulk_insert(
            new,
            [
                {
                    "name": row["name"],
                    "number": row["version"],
                    "source": row["body"],
                    "author": row["created_by"],
                    "note": "",
                    "origin": "editor",
                    "created_at": row["created_at"],
                    "active": row["version"] == highest[row["name"]],
                }
                for row in old_rows
            ],
        )
    with op.batch_alter_table("editions") as batch:
        batch.add_column(sa.Column("template_versions", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("template_versions")
    bind = op.get_bind()
    new = sa.table(
        "template_versions",
        sa.column("name", sa.String),
        sa.column("number", sa.Integer),
        sa.column("source", sa.Text),
        sa.column("author", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    rows = [dict(row) for row in bind.execute(sa.select(new)).mappings()]
    op.drop_index("uq_template_versions_active", table_name="template_versions")
    op.drop_index("uq_template_versions_name_number", table_name="template_versions")
    op.drop_table("template_versions")
    old = op.create_table(
        "template_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_versions")),
        sa.UniqueConstraint("name", "version", name="uq_template_versions_name_version"),
    )
    if rows:
        op.bulk_insert(
            old,
            [
                {
                    "name": row["name"],
                    "version": row["number"],
                    "body": row["source"],
                    "created_by": row["author"],
                    "created_at": row["created_at"],
                }
                for row in rows
            ],
        )

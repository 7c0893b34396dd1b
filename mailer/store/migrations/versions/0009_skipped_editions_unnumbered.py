"""skipped editions have no public number (editions.number becomes nullable)

Revision ID: 0009
Revises: 0008
Create Date: 2027-01-20 10:00:00

Issue 15 item 3: a skipped edition took a number, so the archive of a fresh install
began at 제2호 and /archive/1 was a 404. From now on only an edition that is made to
be sent gets a number; a skipped one keeps its record (schedule, time, reason) and
``number`` NULL. A unique column holds any number of NULLs on SQLite and PostgreSQL.

Existing data: skipped editions lose their number, and their frozen parts — they were
never mailed, and a subject saying "제1호" would name a number that is not theirs.
Editions that were made to be sent keep theirs: it is printed in mail already
delivered, and every "웹에서 보기" link there opens /archive/{that number}. A gap a
skip left before this revision therefore stays; no new gap appears.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

editions = sa.table(
    "editions",
    sa.column("id", sa.Integer),
    sa.column("number", sa.Integer),
    sa.column("state", sa.String),
    sa.column("subject", sa.Text),
    sa.column("html", sa.Text),
    sa.column("text", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.alter_column("number", existing_type=sa.Integer(), nullable=True)
    op.execute(
        editions.update()
        .where(editions.c.state == "skipped")
        .values(number=None, subject="", html="", text="")
    )


def downgrade() -> None:
    # Revision 0008 wants a number on every edition: the unnumbered ones get the
    # numbers after the highest, in the order they were made.
    connection = op.get_bind()
    highest = connection.execute(sa.select(sa.func.max(editions.c.number))).scalar() or 0
    unnumbered = connection.execute(
        sa.select(editions.c.id).where(editions.c.number.is_(None)).order_by(editions.c.id)
    ).scalars()
    for offset, edition_id in enumerate(list(unnumbered), start=1):
        connection.execute(
            editions.update().where(editions.c.id == edition_id).values(number=highest + offset)
        )
    with op.batch_alter_table("editions") as batch:
        batch.alter_column("number", existing_type=sa.Integer(), nullable=False)

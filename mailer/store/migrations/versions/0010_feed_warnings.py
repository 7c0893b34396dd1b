"""feeds keep the warnings of their last read: garbled text, items or dates that were lost

Revision ID: 0010
Revises: 0009
Create Date: 2027-01-20 10:00:00

Issue 13: text that still looks garbled after decoding (a wrong or missing character
set), and what a bad item lost instead of failing its feed (an unreadable date, the
whole item), are warnings kept with the feed until the next poll that reads the feed
again, and shown by ``mailer feeds list``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("warnings", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("warnings")

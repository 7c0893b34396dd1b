"""notices are claimed by a delivery worker (claimed_by) and keep the relay's last code

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:00:00

Notices now go through the delivery worker's state machine. A notice left ``sending``
by the notice sender before this revision has no worker to recover it; whether the
relay took it cannot be known, so it becomes ``unknown`` (never sent twice
automatically) and its address is dropped, as for any notice in an end state.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("last_code", sa.Integer(), nullable=True))
    notices = sa.table(
        "notices",
        sa.column("state", sa.String),
        sa.column("to_address", sa.String),
        sa.column("last_error", sa.Text),
    )
    op.execute(
        notices.update()
        .where(notices.c.state == "sending")
        .values(
            state="unknown",
            to_address=None,
            last_error="in flight when the notice sender was replaced; the relay may or may not have it",
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("last_code")
        batch.drop_column("claimed_by")

"""indexes for the audit page's filters: by time, by account, by client address

Revision ID: 0015
Revises: 0014
Create Date: 2027-02-10 10:00:00

Issue 12 item 8: admins filter the audit log by account, action, date range and client
address, newest first, a page at a time; the log is kept for years, so each filter
reads an index instead of the whole table (``ix_audit_log_action_at`` exists since 0012).
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_audit_log_at": ["at"],
    "ix_audit_log_actor_at": ["actor", "at"],
    "ix_audit_log_client_address_at": ["client_address", "at"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "audit_log", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="audit_log")

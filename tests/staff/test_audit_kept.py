"""The staff audit log is kept: the purge job leaves every audit row, however old (issue 12 item 8, two years at least)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailer import staff
from mailer.subscribers import purge_expired


def test_the_purge_job_leaves_old_and_new_audit_rows(context):
    now = datetime.now(UTC)
    for age in (timedelta(days=3 * 365), timedelta(days=2 * 365 - 1), timedelta(0)):
        staff.audit(
            context, "staff.login", actor="kim@example.kr", client="127.0.0.1", now=now - age
        )
    purge_expired(context, now=now)
    assert len(staff.recent_audit(context, prefix="staff.")) == 3

"""The daily purge deletes staff sessions past their timeouts and used or expired set-password links, and keeps the rest and the audit log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from mailer import staff
from mailer.jobs import purge
from mailer.schedules import JobRun
from mailer.store.tables import audit_log, staff_password_links, staff_sessions

PASSWORD = "시흥 바이오 세미나 2027"


def count(context, table) -> int:
    with context.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_dead_sessions_and_links_go_live_ones_and_the_audit_stay(context):
    now = datetime.now(UTC)
    limits = context.settings.admin
    staff.add_user(context, "kim@example.kr", role="admin", password=PASSWORD)
    long_ago = now - timedelta(hours=limits.session_hours, minutes=1)
    staff.log_in(context, "kim@example.kr", PASSWORD, client="127.0.0.1", now=long_ago)
    staff.log_in(context, "kim@example.kr", PASSWORD, client="127.0.0.1", now=now)
    _user, expired = staff.add_user(
        context, "old@example.kr", role="editor", now=now - timedelta(days=2)
    )
    _user, used = staff.add_user(context, "lee@example.kr", role="editor", now=now)
    staff.set_password_with_link(context, used.url.rsplit("/", 1)[1], PASSWORD, now=now)
    _user, live = staff.add_user(context, "park@example.kr", role="editor", now=now)
    audit_rows = count(context, audit_log)

    removed = staff.purge_expired_staff_rows(context, now=now)
    assert removed == {"staff_sessions": 1, "staff_password_links": 2}
    assert count(context, staff_sessions) == 1
    assert staff.open_link(context, live.url.rsplit("/", 1)[1], now=now).email == "park@example.kr"
    assert count(context, staff_password_links) == 1
    assert count(context, audit_log) == audit_rows
    assert staff.purge_expired_staff_rows(context, now=now) == {
        "staff_sessions": 0,
        "staff_password_links": 0,
    }


def test_the_purge_job_runs_the_staff_purge(context):
    now = datetime.now(UTC)
    staff.add_user(context, "old@example.kr", role="editor", now=now - timedelta(days=2))
    run = JobRun(context, "purge", now, "test", clock=lambda: now)
    summary = asyncio.run(purge(run))
    assert "staff_password_links: 1" in summary
    assert count(context, staff_password_links) == 0

"""Staff sessions with an injected clock (SQLite and PostgreSQL): idle and absolute timeouts, throttling windows, log-out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailer import staff

NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
PASSWORD = "시흥 바이오 세미나 2027"


@pytest.fixture
def kim(context):
    staff.add_user(context, "kim@example.kr", role="editor", password=PASSWORD)
    return "kim@example.kr"


def test_each_request_moves_the_idle_timeout_but_not_the_absolute_one(context, kim):
    token, _user = staff.log_in(context, kim, PASSWORD, client="10.0.0.1", now=NOW)
    seen = NOW
    # Busy all day: a request every 25 minutes keeps the session until 12 hours are up.
    while seen + timedelta(minutes=25) < NOW + timedelta(hours=12):
        seen += timedelta(minutes=25)
        assert staff.current_session(context, token, now=seen) is not None, seen
    assert staff.current_session(context, token, now=NOW + timedelta(hours=12)) is None
    # A dead session stays dead.
    assert staff.current_session(context, token, now=NOW) is None


def test_a_session_unused_for_the_idle_time_ends(context, kim):
    token, _user = staff.log_in(context, kim, PASSWORD, client=None, now=NOW)
    assert staff.current_session(context, token, now=NOW + timedelta(minutes=29)) is not None
    later = NOW + timedelta(minutes=29 + 30)
    assert staff.current_session(context, token, now=later) is None


def test_failures_leave_the_throttle_window(context, kim):
    limit = context.settings.admin.login_failures_per_account
    for _ in range(limit):
        with pytest.raises(staff.LoginRefused):
            staff.log_in(context, kim, "wrong", client="10.0.0.2", now=NOW)
    with pytest.raises(staff.LoginThrottled):
        staff.log_in(context, kim, PASSWORD, client="10.0.0.3", now=NOW + timedelta(minutes=1))
    window = timedelta(minutes=context.settings.admin.login_window_minutes, seconds=1)
    token, _user = staff.log_in(context, kim, PASSWORD, client="10.0.0.3", now=NOW + window)
    session = staff.current_session(context, token, now=NOW + window)
    staff.log_out(context, session, client="10.0.0.3", now=NOW + window)
    assert staff.current_session(context, token, now=NOW + window) is None

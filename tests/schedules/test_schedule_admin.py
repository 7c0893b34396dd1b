"""Staff use cases of schedules: a change moves the next runs, bad input is refused as the CLI says, roles, audit rows.

And "send now" (the digest step's manual edition): its counts, the edition it creates
and queues, and that only an admin may.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailer import delivery, digest, staff
from mailer import subscribers as subscriptions
from mailer.errors import InvalidInputError
from mailer.models import EditionState
from mailer.schedules import (
    COMMAND_LINE,
    cron_for,
    next_runs,
    pause_schedule,
    resume_schedule,
    set_schedule,
)
from mailer.seed import initialise
from mailer.store import schedules as store
from mailer.store.db import write_transaction
from tests.digest_data import add_story

SEOUL = ZoneInfo("Asia/Seoul")
#: Wednesday 2026-12-02 12:00 in Seoul.
NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Account:
    email: str
    role: str


ADMIN = Account("kim@example.kr", "admin")
EDITOR = Account("lee@example.kr", "editor")


def _audit(ctx, action: str) -> list[dict]:
    return [row for row in staff.recent_audit(ctx) if row["action"] == action]


def test_a_change_moves_the_next_runs_from_monday_9_to_tuesday_10(context):
    initialise(context)
    set_schedule(context, "digest", "0 9 * * mon", timezone="Asia/Seoul", now=NOW)
    before = next_runs(context, "digest", now=NOW)
    assert [f"{moment:%Y-%m-%d %a %H:%M %Z}" for moment in before[:2]] == [
        "2026-12-07 Mon 09:00 KST",
        "2026-12-14 Mon 09:00 KST",
    ]
    assert len(before) == 5 and all(moment.tzinfo == SEOUL for moment in before)
    cron = cron_for(["tue"], hour=10, minute=0)
    view = set_schedule(context, "digest", cron, account=ADMIN, client="203.0.113.9", now=NOW)
    assert view.described() == "매주 화요일 오전 10:00 (Asia/Seoul)"
    after = next_runs(context, "digest", now=NOW)
    assert [f"{moment:%Y-%m-%d %a %H:%M}" for moment in after] == [
        f"2026-12-{day:02d} Tue 10:00" for day in (8, 15, 22, 29)
    ] + ["2027-01-05 Tue 10:00"]
    entry = _audit(context, "schedule.change")[0]
    assert (entry["actor"], entry["client_address"], entry["target"]) == (
        "kim@example.kr",
        "203.0.113.9",
        "schedule digest",
    )
    assert entry["detail"] == {
        "before": {
            "cron": "0 9 * * mon",
            "timezone": "Asia/Seoul",
            "grace_seconds": 6 * 3600,
            "enabled": True,
        },
        "after": {
            "cron": "0 10 * * tue",
            "timezone": "Asia/Seoul",
            "grace_seconds": 6 * 3600,
            "enabled": True,
        },
    }


def test_a_bad_cron_is_refused_with_the_clis_message_and_changes_nothing(context):
    initialise(context)
    with context.engine.connect() as conn:
        row = store.get_schedule(conn, "digest")
    audit_before = staff.recent_audit(context)
    with pytest.raises(InvalidInputError) as refused:
        set_schedule(context, "digest", "0 9 * *", account=ADMIN)
    assert refused.value.field == "cron"
    assert str(refused.value).startswith("invalid cron expression '0 9 * *': it has 4 field(s)")
    with pytest.raises(InvalidInputError, match="write the day of week with names"):
        set_schedule(context, "digest", "0 9 * * 1", account=ADMIN)
    with pytest.raises(InvalidInputError, match="unknown time zone 'Seoul'"):
        set_schedule(context, "digest", "0 9 * * mon", timezone="Seoul", account=ADMIN)
    with context.engine.connect() as conn:
        assert store.get_schedule(conn, "digest") == row
    assert staff.recent_audit(context) == audit_before


def test_pause_and_resume_are_audited_once_each_and_stop_the_next_runs(context):
    initialise(context)
    paused = pause_schedule(context, "digest", account=ADMIN, client="203.0.113.9", now=NOW)
    assert paused.state == "paused" and next_runs(context, "digest", now=NOW) == ()
    pause_schedule(context, "digest", account=ADMIN, now=NOW)  # already paused: no new row
    resume_schedule(context, "digest", account=ADMIN, now=NOW)
    assert len(next_runs(context, "digest", now=NOW)) == 5
    [pause] = _audit(context, "schedule.pause")
    [resume] = _audit(context, "schedule.resume")
    assert (pause["detail"]["before"]["enabled"], pause["detail"]["after"]["enabled"]) == (
        True,
        False,
    )
    assert resume["detail"]["after"]["enabled"] is True and resume["actor"] == "kim@example.kr"


def test_an_editor_may_not_change_pause_resume_or_send_now(context):
    initialise(context)
    for change in (
        lambda: set_schedule(context, "digest", "0 10 * * tue", account=EDITOR),
        lambda: pause_schedule(context, "digest", account=EDITOR),
        lambda: resume_schedule(context, "digest", account=EDITOR),
        lambda: digest.send_now_plan(context, EDITOR),
        lambda: digest.send_now(context, EDITOR, queue=delivery.queue_edition, client=None),
    ):
        with pytest.raises(staff.PermissionDenied):
            change()
    with context.engine.connect() as conn:
        assert store.get_schedule(conn, "digest")["cron"] == "0 9 * * mon"
    actions = {row["action"] for row in staff.recent_audit(context)}
    assert not {action for action in actions if action.startswith(("schedule.", "digest."))}
    assert delivery.recent_editions(context) == []


def test_the_command_line_changes_a_schedule_as_cli(context):
    initialise(context)
    set_schedule(context, "poll", "*/15 * * * *")
    assert COMMAND_LINE.email == "cli"
    assert [row["actor"] for row in _audit(context, "schedule.change")] == ["cli"]


def test_send_now_counts_then_creates_and_queues_the_edition_once(context):
    initialise(context)
    with write_transaction(context.engine) as conn:
        for number in range(3):
            add_story(conn, f"s{number}", title=f"바이오 소식 {number}", now=NOW)
    for number in range(2):
        subscriptions.add_subscriber(
            context, f"reader{number}@example.kr", confirmed=True, notify=False
        )
    subscriptions.add_subscriber(context, "waiting@example.kr", confirmed=False, notify=False)
    plan = digest.send_now_plan(context, ADMIN, now=NOW)
    assert (plan.subscribers, plan.stories, plan.refusal) == (2, 3, None)
    sent = digest.send_now(
        context, ADMIN, queue=delivery.queue_edition, client="203.0.113.9", now=NOW
    )
    assert (sent.number, sent.fresh, sent.queued) == (1, True, 2)
    status = delivery.edition_status(context, delivery.edition_id_for(context, 1))
    assert status.state == EditionState.QUEUED and status.counts.by_state == {"queued": 2}
    # A second click while it is queued: refused, its stories would go out twice.
    with pytest.raises(InvalidInputError, match="제1호가 아직 발송 중입니다"):
        digest.send_now(
            context,
            ADMIN,
            queue=delivery.queue_edition,
            client=None,
            now=NOW + timedelta(minutes=1),
        )
    assert len(delivery.recent_editions(context)) == 1
    [entry] = _audit(context, "digest.send_now")
    assert entry["client_address"] == "203.0.113.9"
    assert entry["detail"] == {
        "after": {"edition": 1, "subscribers": 2, "stories": 3, "deliveries_queued": 2}
    }


def test_send_now_refuses_an_edition_without_news(context):
    initialise(context)
    subscriptions.add_subscriber(context, "reader@example.kr", confirmed=True, notify=False)
    plan = digest.send_now_plan(context, ADMIN, now=NOW)
    assert plan.stories == 0 and plan.refusal
    with pytest.raises(InvalidInputError):
        digest.send_now(context, ADMIN, queue=delivery.queue_edition, client=None, now=NOW)
    assert delivery.recent_editions(context) == [] and _audit(context, "digest.send_now") == []

"""Schedule use cases: edits stamped and validated, views in local time, the next fire time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mailer.errors import ConfigError, InvalidInputError, NotFoundError
from mailer.schedules.edit import (
    get_schedule_view,
    list_schedule_views,
    next_fire_time,
    pause_schedule,
    resume_schedule,
    set_schedule,
)
from mailer.seed import initialise
from mailer.store import schedules as store
from mailer.store.db import write_transaction
from mailer.store.tables import schedules

SEOUL = ZoneInfo("Asia/Seoul")


# ----------------------------------------------------------------------------- editing


def test_set_changes_cron_time_zone_and_grace_and_stamps_the_edit(context):
    initialise(context)
    before = datetime.now(UTC)
    view = set_schedule(context, "digest", " */2  * * * * ", timezone="UTC", grace_seconds=600)
    assert (view.cron, view.timezone, view.grace_seconds, view.state) == (
        "*/2 * * * *",
        "UTC",
        600,
        "enabled",
    )
    with context.engine.connect() as conn:
        row = store.get_schedule(conn, "digest")
    assert row["cron"] == "*/2 * * * *"
    assert row["updated_at"] >= before
    # The time zone is kept when not given.
    assert set_schedule(context, "digest", "0 9 * * mon").timezone == "UTC"


def test_set_refuses_bad_input_and_changes_nothing(context):
    initialise(context)
    with context.engine.connect() as conn:
        before = store.get_schedule(conn, "digest")
    for cron, timezone, grace in [
        ("0 9 * *", None, None),
        ("0 9 * * mon", "Seoul", None),
        ("0 9 * * mon", None, -1),
    ]:
        with pytest.raises(InvalidInputError):
            set_schedule(context, "digest", cron, timezone=timezone, grace_seconds=grace)
    with context.engine.connect() as conn:
        assert store.get_schedule(conn, "digest") == before
    with pytest.raises(NotFoundError, match="schedule nightly not found"):
        set_schedule(context, "nightly", "0 9 * * mon")
    with pytest.raises(NotFoundError):
        pause_schedule(context, "nightly")


def test_pause_and_resume(context):
    initialise(context)
    paused = pause_schedule(context, "poll")
    assert (paused.state, paused.next_runs) == ("paused", ())
    stamp = datetime(2030, 1, 1, tzinfo=UTC)
    # Pausing what is paused changes nothing, not even the edit stamp.
    pause_schedule(context, "poll", now=stamp)
    with context.engine.connect() as conn:
        assert store.get_schedule(conn, "poll")["updated_at"] < stamp
    resumed = resume_schedule(context, "poll", now=stamp)
    assert resumed.state == "enabled"
    assert resumed.next_runs[0] == datetime(2030, 1, 1, 9, 30, tzinfo=SEOUL)  # 00:00 UTC + 30 min


def test_list_shows_next_runs_in_local_time_and_the_last_run(context):
    initialise(context)
    now = datetime(2026, 11, 25, 18, 7, tzinfo=UTC)  # Thursday 03:07 in Seoul
    with write_transaction(context.engine) as conn:
        monday = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
        store.record_run(
            conn, "digest", monday, outcome="skipped", reason="why", instance="x", now=monday
        )
        conn.execute(
            schedules.update().where(schedules.c.name == "purge").values(cron="not a cron")
        )
    views = {view.name: view for view in list_schedule_views(context, now=now, count=2)}
    assert sorted(views) == ["digest", "poll", "purge", "reconfirm"]
    digest = views["digest"]
    assert [(t.tzinfo, t.strftime("%a %H:%M")) for t in digest.next_runs] == [
        (SEOUL, "Mon 09:00"),
        (SEOUL, "Mon 09:00"),
    ]
    assert digest.last_run["fire_time"] == monday
    assert (digest.last_run["outcome"], digest.last_run["reason"]) == ("skipped", "why")
    assert [t.strftime("%H:%M") for t in views["poll"].next_runs] == ["03:30", "04:00"]
    assert views["purge"].state == "invalid"
    assert "it has 3 field(s)" in views["purge"].problem
    assert views["reconfirm"].last_run is None
    as_json = digest.as_json()
    assert as_json["next_runs"] == ["2026-11-30T09:00:00+09:00", "2026-12-07T09:00:00+09:00"]
    assert as_json["last_run"]["fire_time"] == "2026-11-23T09:00:00+09:00"
    assert get_schedule_view(context, "digest", now=now).next_runs[0] == digest.next_runs[0]


def test_next_fire_time_is_when_a_schedule_fires_next_or_now_without_one(context):
    initialise(context)
    sunday = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    monday_9_seoul = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    assert next_fire_time(context, "digest", now=sunday) == monday_9_seoul
    assert next_fire_time(context, "digest", now=monday_9_seoul) == monday_9_seoul  # at or after
    assert next_fire_time(context, "manual", now=sunday) == sunday
    with write_transaction(context.engine) as conn:
        conn.execute(
            schedules.update().where(schedules.c.name == "digest").values(cron="not a cron")
        )
    with pytest.raises(ConfigError, match="schedule digest: invalid cron expression"):
        next_fire_time(context, "digest", now=sunday)

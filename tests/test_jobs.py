"""The job table: every seeded kind has a job, and each job calls its step the way it should."""

from __future__ import annotations

from datetime import UTC, datetime

from mailer.jobs import JOBS
from mailer.schedules import Scheduler, held_lease
from mailer.store.db import write_transaction
from tests.schedule_support import FakeClock, add_schedule


async def test_the_default_registry_names_every_seeded_kind():
    from mailer.seed import DEFAULT_SCHEDULES

    assert {kind for _, kind, _, _ in DEFAULT_SCHEDULES} <= set(JOBS)


async def test_poll_is_skipped_while_another_scheduler_holds_the_poll_lease(context):
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    add_schedule(context.engine, "poll", kind="poll", cron="*/30 * * * *", updated_at=t)
    clock = FakeClock(t)
    async with held_lease(context, "poll", holder="other-host:42:abc", clock=clock):
        [outcome] = await Scheduler(context, jobs=JOBS, clock=clock, instance="A").fire("poll", t)
    assert outcome.outcome == "skipped"
    assert outcome.reason.startswith("another scheduler is polling the feeds")
    assert "held by other-host:42:abc" in outcome.reason


async def test_the_digest_job_creates_and_queues_the_edition_of_its_fire_time_once(context):
    from mailer.schedules import JobRun
    from mailer.seed import initialise
    from tests.digest_data import MONDAY, add_story

    initialise(context)
    with write_transaction(context.engine) as conn:
        add_story(conn, "a", title="바이오 클러스터 소식")
    run = JobRun(
        context=context, schedule="digest", fire_time=MONDAY, instance="A", clock=lambda: MONDAY
    )
    assert await JOBS["digest"](run) == "edition 1 created and queued"
    assert await JOBS["digest"](run) == "edition 1 is queued; not queued again"


async def test_the_poll_job_records_how_many_feeds_were_polled_new_stories_and_failures(
    context, feed_server
):
    from pathlib import Path

    from mailer import feeds
    from mailer.schedules import JobRun

    data = Path(__file__).parent / "data" / "feeds" / "korean_rss20.xml"
    feeds.add_feed(context, feed_server.add("/news.xml", data.read_bytes()))
    feeds.add_feed(context, feed_server.add("/gone.xml", b"", status=404))
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    run = JobRun(context=context, schedule="poll", fire_time=t, instance="A", clock=lambda: t)
    summary = await JOBS["poll"](run)
    with context.engine.connect() as conn:
        from sqlalchemy import func, select

        from mailer.store.tables import stories

        stored = conn.execute(select(func.count()).select_from(stories)).scalar_one()
    assert stored > 0
    assert summary == f"2 feed(s) polled: {stored} new stories, 1 failed"

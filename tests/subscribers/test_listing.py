"""Reading the subscriber list: typed views in sign-up order, a limit that ends the read, notice counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailer import subscribers as subscriptions
from mailer.errors import InvalidInputError
from mailer.seed import initialise

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def ctx(context):
    initialise(context)
    return context


def test_the_list_is_views_in_sign_up_order_and_their_json(ctx):
    subscriptions.add_subscriber(
        ctx, "kim@example.kr", name="김철수", organisation="시흥", confirmed=True, now=T0
    )
    subscriptions.add_subscriber(ctx, "new@example.kr", notify=False, now=T0)
    kim, new = subscriptions.iter_subscribers(ctx)
    assert isinstance(kim, subscriptions.SubscriberView)
    assert kim.as_json() == {
        "email": "kim@example.kr",
        "name": "김철수",
        "organisation": "시흥",
        "status": "active",
        "source": "admin",
        "created_at": kim.created_at.isoformat(),
        "confirmed_at": kim.confirmed_at.isoformat(),
        "attributes": {},
    }
    assert kim.since == kim.confirmed_at
    assert new.status == "pending" and new.as_json()["confirmed_at"] is None
    assert new.since == new.created_at
    [only] = subscriptions.iter_subscribers(ctx, statuses=["pending"])
    assert only.email == "new@example.kr"


def test_a_limit_stops_the_read_and_the_store_stays_usable(ctx):
    for n in range(3):
        subscriptions.add_subscriber(ctx, f"r{n}@example.kr", confirmed=True, notify=False)
    assert [p.email for p in subscriptions.iter_subscribers(ctx, limit=2)] == [
        "r0@example.kr",
        "r1@example.kr",
    ]
    # The limited stream is done with the database: a write right after succeeds.
    stream = subscriptions.iter_subscribers(ctx, limit=1)
    assert len(list(stream)) == 1
    subscriptions.add_subscriber(ctx, "r3@example.kr", confirmed=True, notify=False)
    assert subscriptions.status_counts(ctx) == {"active": 4}
    with pytest.raises(InvalidInputError) as refused:
        subscriptions.iter_subscribers(ctx, limit=-1)
    assert refused.value.field == "limit"


def test_notice_counts_say_how_many_wait(ctx):
    assert subscriptions.notice_counts(ctx).waiting == 0
    subscriptions.add_subscriber(ctx, "a@example.kr", now=T0)
    subscriptions.add_subscriber(ctx, "b@example.kr", now=T0)
    counts = subscriptions.notice_counts(ctx)
    assert counts.waiting == 2 and counts.failed == 0 and counts.unknown == 0
    assert subscriptions.NoticeCounts({"queued": 1, "deferred": 2, "sent": 5}).waiting == 3

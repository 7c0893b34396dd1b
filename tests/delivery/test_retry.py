"""The one backoff and the one retry policy: 2xx sent, 4xx deferred until the deadline, 5xx failed, lost reply unknown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailer.delivery import RetryPolicy
from mailer.errors import LostReply, RefusedAt, TransportError
from mailer.models import DeliveryState
from mailer.retry import backoff_delay

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
POLICY = RetryPolicy(retry_for=3600, backoff_base=60, backoff_max=600)


def test_backoff_doubles_up_to_its_cap_with_equal_jitter():
    assert [backoff_delay(n, base=60, maximum=600, jitter=False) for n in range(1, 6)] == [
        60,
        120,
        240,
        480,
        600,
    ]
    for attempt in (1, 3, 10):
        exact = backoff_delay(attempt, base=60, maximum=600, jitter=False)
        for _ in range(50):
            assert exact / 2 <= backoff_delay(attempt, base=60, maximum=600) <= exact
    # A feed failing for years does not overflow the arithmetic.
    assert backoff_delay(100_000, base=300, maximum=86400, jitter=False) == 86400


def outcome(error=None, reply=None, *, attempts=0, since=NOW, now=NOW):
    return POLICY.outcome(1, reply=reply, error=error, attempts=attempts, since=since, now=now)


def test_2xx_is_sent_with_the_relays_code():
    sent = outcome(reply="250 2.0.0 queued as 4711")
    assert sent.state == DeliveryState.SENT and sent.code == 250


@pytest.mark.parametrize(
    "error", [RefusedAt("RCPT", 451, "greylisted"), TransportError("connection refused")]
)
def test_4xx_or_an_unreachable_relay_is_deferred_by_the_backoff(error):
    deferred = outcome(error, attempts=2)
    assert deferred.state == DeliveryState.DEFERRED
    # The third attempt failed: 60 × 2² = 240 s, jittered into [120, 240].
    assert NOW + timedelta(seconds=120) <= deferred.next_attempt_at <= NOW + timedelta(seconds=240)


def test_a_retry_never_lands_past_the_deadline_and_then_it_fails():
    near = outcome(RefusedAt("RCPT", 450, "busy"), attempts=8, since=NOW - timedelta(seconds=3590))
    assert near.state == DeliveryState.DEFERRED
    assert near.next_attempt_at == NOW + timedelta(seconds=10)
    late = outcome(RefusedAt("RCPT", 450, "busy"), attempts=9, since=NOW - timedelta(hours=1))
    assert late.state == DeliveryState.FAILED and late.code == 450
    assert late.error.startswith("gave up after 10 attempts")


def test_5xx_fails_at_once_and_a_lost_reply_is_unknown():
    failed = outcome(RefusedAt("DATA", 554, "content rejected"))
    assert failed.state == DeliveryState.FAILED and failed.code == 554
    unknown = outcome(LostReply("connection lost after the final dot"))
    assert unknown.state == DeliveryState.UNKNOWN


def test_an_unexpected_error_is_treated_as_temporary():
    deferred = outcome(KeyError("bug"))
    assert deferred.state == DeliveryState.DEFERRED and "internal error" in deferred.error

"""The signup use case's own checks (opt_in): the consent box, refused before any store work, with every field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from mailer import subscribers as subscriptions
from mailer.errors import InvalidSubscriberInput
from mailer.seed import initialise
from mailer.store.tables import consent_events, notices, rate_limits, subscribers
from mailer.subscribers import Problem

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def ctx(context):
    initialise(context)
    return context


def count(ctx, table) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({"email": "reader@example.kr"}, {"consent": Problem.CONSENT_REQUIRED}),
        (
            {"email": "", "name": "x" * 101},
            {
                "email": Problem.REQUIRED,
                "name": Problem.TOO_LONG,
                "consent": Problem.CONSENT_REQUIRED,
            },
        ),
    ],
)
def test_a_signup_without_consent_stores_nothing_and_names_every_problem(ctx, fields, problems):
    version = subscriptions.current_consent_text(ctx).version
    fields = dict(fields)
    with pytest.raises(InvalidSubscriberInput) as refused:
        subscriptions.signup(
            ctx,
            fields.pop("email"),
            consented=False,
            consent_version=version,
            ip="203.0.113.9",
            now=T0,
            **fields,
        )
    assert refused.value.problems == problems
    assert list(refused.value.problems) == list(problems)  # the form's order
    # Nothing stored, and no rate-limit counter spent on a refused form.
    tables = (subscribers, consent_events, notices, rate_limits)
    assert [count(ctx, table) for table in tables] == [0, 0, 0, 0]


def test_the_limits_a_too_long_text_names_are_the_checked_ones(ctx):
    with pytest.raises(InvalidSubscriberInput) as refused:
        subscriptions.signup(
            ctx,
            "reader@example.kr",
            organisation="x" * (subscriptions.FIELD_LIMITS["organisation"] + 1),
            consented=True,
            consent_version=subscriptions.current_consent_text(ctx).version,
        )
    assert refused.value.problems == {"organisation": Problem.TOO_LONG}
    subscriptions.signup(
        ctx,
        "reader@example.kr",
        organisation="x" * subscriptions.FIELD_LIMITS["organisation"],
        consented=True,
        consent_version=subscriptions.current_consent_text(ctx).version,
    )
    assert count(ctx, subscribers) == 1

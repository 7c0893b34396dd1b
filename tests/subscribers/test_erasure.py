"""Erasure asked for on the preferences page needs its confirmation box; nothing is erased without it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailer import subscribers as subscriptions
from mailer.errors import InvalidSubscriberInput
from mailer.seed import initialise
from mailer.store.tables import subscribers
from mailer.subscribers import Problem


def test_an_unconfirmed_erasure_changes_nothing(context):
    initialise(context)
    subscriptions.add_subscriber(context, "keep@example.kr", confirmed=True, notify=False)
    with context.engine.connect() as conn:
        token = conn.execute(select(subscribers.c.token)).scalar_one()
    with pytest.raises(InvalidSubscriberInput) as refused:
        subscriptions.erase(context, token=token, source="preferences", confirmed=False)
    assert refused.value.problems == {"confirm": Problem.CONFIRMATION_REQUIRED}
    with context.engine.connect() as conn:
        assert conn.execute(select(subscribers.c.status)).scalar_one() == "active"
    assert subscriptions.erase(context, token=token, source="preferences", confirmed=True)
    assert list(subscriptions.iter_subscribers(context)) == []

"""Erasure asked for with a data-access link needs its confirmation box; nothing is erased without it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailer import delivery
from mailer import subscribers as subscriptions
from mailer.errors import InvalidSubscriberInput
from mailer.seed import initialise
from mailer.store.tables import subscribers
from mailer.subscribers import Problem
from tests.subscribers.test_lifecycle import data_token


async def test_an_unconfirmed_erasure_changes_nothing(context, smtp_server):
    initialise(context)
    subscriptions.add_subscriber(context, "keep@example.kr", confirmed=True, notify=False)
    assert subscriptions.request_data_link(context, "keep@example.kr")
    await delivery.deliver_notices(context)
    token = data_token(smtp_server)
    with pytest.raises(InvalidSubscriberInput) as refused:
        subscriptions.erase(context, token=token, source="data-link", confirmed=False)
    assert refused.value.problems == {"confirm": Problem.CONFIRMATION_REQUIRED}
    with context.engine.connect() as conn:
        assert conn.execute(select(subscribers.c.status)).scalar_one() == "active"
    assert subscriptions.erase(context, token=token, source="data-link", confirmed=True)
    assert list(subscriptions.iter_subscribers(context)) == []

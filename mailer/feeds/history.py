"""What polling has done so far, for the commands that depend on it (``digest send``).

Loads neither httpx nor feedparser: asking costs one small read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailer.store import feeds as feed_store

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


def never_polled(ctx: AppContext, /) -> int:
    """How many enabled feeds wait for their first poll on an install that never polled; else 0.

    A fresh install has feeds (``mailer init`` registers them) but no story until a poll
    ran: an edition made now would carry no news, for no reason the reader could see
    (issue 15 item 2). Once any feed was polled, or any story is stored, this is 0.
    """
    with ctx.engine.connect() as conn:
        return feed_store.count_never_polled(conn)

"""Unsubscribing when the link does not work: check a token, or mail the working link to an address.

A mail client that breaks a link, or an old link of an erased address, must not be
told "unsubscribed" when nothing changed (issue 15, item 5). The page says the link
could not be verified and offers the address form; the unsubscribe link goes to that
address only, with the same answer whether or not it is on the list.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from mailer.models import NoticeKind
from mailer.subscribers.data_access import request_mailed_link
from mailer.subscribers.tokens import CONSENTED, FOR_UNSUBSCRIBE, lookup_token

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


def unsubscribe_token_known(ctx: AppContext, token: str, /) -> bool:
    """True when ``token`` names a subscriber it may unsubscribe (a read; nothing changes)."""
    with ctx.engine.connect() as conn:
        return lookup_token(conn, token, opens=FOR_UNSUBSCRIBE) is not None


def request_unsubscribe_link(
    ctx: AppContext, email: str, /, *, ip: str | None = None, now: datetime | None = None
) -> bool:
    """Mail the unsubscribe link to ``email`` if it receives the newsletter; True if queued.

    Same limits as the data-link form: InvalidSubscriberInput for a bad address,
    SignupThrottled past the per-IP quota, one mail per address per interval.
    """
    return request_mailed_link(
        ctx, email, NoticeKind.UNSUBSCRIBE_LINK, "unsubscribe", ip=ip, now=now, wanted=CONSENTED
    )

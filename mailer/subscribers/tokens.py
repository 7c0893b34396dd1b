"""Subscriber tokens and rate-limit keys: what every subscriber use case looks up by."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from mailer.errors import SignupThrottled
from mailer.keys import token_hash
from mailer.models import (
    SubscriberStatus,
)
from mailer.store import link_tokens, rate_limits
from mailer.store.link_tokens import Opens, subscriber_by_token_hash

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


#: Tokens longer than this are not ours; refuse before touching the database.
MAX_TOKEN_LENGTH = 128

CONSENTED = (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED)
_TOKEN_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


def utcnow() -> datetime:
    return datetime.now(UTC)


#: What each kind of page lets a token open (issue 11, item 8): the permanent token in
#: every mail opens preferences and unsubscribe; a token replaced at re-consent still
#: unsubscribes (old mail must keep working); data and erasure need a mailed data link.
FOR_PREFERENCES = (Opens.PREFERENCES,)
FOR_UNSUBSCRIBE = (Opens.PREFERENCES, Opens.UNSUBSCRIBE)
FOR_DATA = (Opens.DATA,)


def limit_key(ctx: AppContext, kind: str, value: str) -> str:
    """Rate-limit keys are keyed hashes: the counters table holds no address or IP in clear."""
    digest = hmac.new(ctx.rate_limit_key, value.encode(), hashlib.sha256)
    return f"{kind}:{digest.hexdigest()[:40]}"


def throttle_ip(
    ctx: AppContext, conn: Connection, kind: str, ip: str | None, /, *, now: datetime
) -> None:
    """Count one request of ``kind`` from ``ip``; raise SignupThrottled past the hourly quota."""
    if not ip:
        return
    count = rate_limits.hit(conn, limit_key(ctx, kind, ip), now=now, window=timedelta(hours=1))
    if count > ctx.settings.subscriptions.per_ip_per_hour:
        raise SignupThrottled(retry_after=3600)


def current_token(ctx: AppContext, row: dict) -> str:
    """The subscriber's current unsubscribe/preferences token (HMAC of the stored seed)."""
    return ctx.keys.link_token(row["token_seed"])


def renew_token(ctx: AppContext, conn: Connection, row: dict, /, *, now: datetime) -> dict:
    """Give the subscriber a new current token at re-consent; returns the row as it now is.

    Earlier tokens keep only unsubscribe (old mail must still let its reader leave,
    정보통신망법 제50조), so what a forwarded old mail opens ends at re-consent (issue 11).
    """
    fresh = ctx.keys.new_link()
    link_tokens.replace_current_token(conn, row, **fresh, now=now)
    return {**row, **fresh}


def plausible_token(token: str | None) -> bool:
    """Our tokens are URL-safe base64; anything else (NUL, non-ASCII, huge) is not worth a query."""
    return (
        bool(token)
        and len(token) <= MAX_TOKEN_LENGTH
        and _TOKEN_ALPHABET.fullmatch(token) is not None
    )


def lookup_token(
    conn: Connection,
    token: str | None,
    *,
    opens: tuple[Opens, ...],
    lock: bool = False,
    now: datetime | None = None,
) -> dict | None:
    """The subscriber a link token names, if it opens one of ``opens``; else None.

    Only the token's SHA-256 is looked up (a unique index), so no byte of the token is
    ever compared with a stored secret: nothing leaks through timing.
    """
    if not plausible_token(token):
        return None
    return subscriber_by_token_hash(
        conn, token_hash(token), opens=opens, now=now or utcnow(), lock=lock
    )

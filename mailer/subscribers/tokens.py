"""Subscriber tokens and rate-limit keys: what every subscriber use case looks up by."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from mailer.models import (
    SubscriberStatus,
)
from mailer.store import subscribers as store

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


#: Tokens longer than this are not ours; refuse before touching the database.
MAX_TOKEN_LENGTH = 128

CONSENTED = (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED)
_TOKEN_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


def utcnow() -> datetime:
    return datetime.now(UTC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def limit_key(ctx: AppContext, kind: str, value: str) -> str:
    """Rate-limit keys are keyed hashes: the counters table holds no address or IP in clear."""
    digest = hmac.new(ctx.rate_limit_key, value.encode(), hashlib.sha256)
    return f"{kind}:{digest.hexdigest()[:40]}"


def plausible_token(token: str | None) -> bool:
    """Our tokens are URL-safe base64; anything else (NUL, non-ASCII, huge) is not worth a query."""
    return (
        bool(token)
        and len(token) <= MAX_TOKEN_LENGTH
        and _TOKEN_ALPHABET.fullmatch(token) is not None
    )


def lookup_token(conn: Connection, token: str | None, *, lock: bool = False) -> dict | None:
    """The subscriber holding this unsubscribe/preferences token, compared in constant time."""
    if not plausible_token(token):
        return None
    row = store.by_token(conn, token, lock=lock)
    if row is None or not hmac.compare_digest(row["token"].encode(), token.encode()):
        return None
    return row

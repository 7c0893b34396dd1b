"""Who an edition queued now would reach: active subscribers whose address is not suppressed.

Suppression entries hold only address keys (HMACs), so the active addresses are read
in id order, a batch at a time, and their keys looked up — the list never sits in
memory whole. The worker re-checks the same two things before each send.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from mailer.keys import IdentityKeys
from mailer.models import SubscriberStatus
from mailer.store.suppressions import suppressed_among
from mailer.store.tables import subscribers

BATCH = 1000


def reachable_subscriber_count(conn: Connection, keys: IdentityKeys, /) -> int:
    """Active (hence confirmed) subscribers whose address is not on the suppression list."""
    total, after = 0, 0
    while True:
        rows = conn.execute(
            select(subscribers.c.id, subscribers.c.email)
            .where(subscribers.c.status == SubscriberStatus.ACTIVE, subscribers.c.id > after)
            .order_by(subscribers.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return total
        hashes = [keys.address_key(row.email) for row in rows]
        blocked = suppressed_among(conn, sorted(set(hashes)))
        total += sum(1 for key in hashes if key not in blocked)
        after = rows[-1].id

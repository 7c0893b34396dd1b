"""Queue an edition's deliveries and the staff commands on them: counts, resume, resend unknowns, recover.

Everything here is one short transaction per call; the sending itself is the worker's
(worker.py).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection

from mailer.context import AppContext
from mailer.errors import InvalidInputError, NotFoundError
from mailer.mail import prepare_edition
from mailer.models import DeliveryCounts, EditionState
from mailer.store import deliveries as store
from mailer.store import workers as worker_store
from mailer.store.db import write_transaction

#: Subscribers per INSERT … SELECT when queueing (keyset batches, short transactions).
QUEUE_BATCH = 5000


def utcnow() -> datetime:
    return datetime.now(UTC)


def edition_row(conn: Connection, edition_id: int, /) -> dict:
    """The edition's row; NotFoundError when there is none."""
    edition = store.get_edition(conn, edition_id)
    if edition is None:
        raise NotFoundError("edition", edition_id)
    return edition


def queue_edition(
    ctx: AppContext,
    edition_id: int,
    /,
    *,
    on_queued: Callable[[Connection, int], None] | None = None,
) -> int:
    """Insert one delivery per active subscriber and move the edition draft → queued.

    Returns how many deliveries were queued; 0 when the edition was queued already.
    Subscribers are inserted in keyset batches by the database itself, so the list
    never sits in memory; a crash midway leaves the edition a draft, and queueing it
    again fills in the rest (one row per (edition, subscriber) is unique).
    ``on_queued(conn, total)`` runs inside the transaction that marks it queued (the
    audit row of a staff "send now" commits with the state it records).
    """
    with ctx.engine.connect() as conn:
        edition = edition_row(conn, edition_id)
    if edition["state"] != EditionState.DRAFT:
        return 0
    # Refuse an edition that cannot be turned into mail before any row exists.
    prepare_edition(ctx.settings, edition, message_id_part="check")
    total, after = 0, 0
    while True:
        with write_transaction(ctx.engine) as conn:
            inserted, upper = store.queue_batch(
                conn, edition_id, after_id=after, limit=QUEUE_BATCH, now=utcnow()
            )
        total += inserted
        if upper is None:
            break
        after = upper
    with write_transaction(ctx.engine) as conn:
        marked = store.mark_edition_queued(conn, edition_id, now=utcnow())
        if marked and on_queued is not None:
            on_queued(conn, total)
    return total


def delivery_counts(ctx: AppContext, edition_id: int, /) -> DeliveryCounts:
    """How many deliveries of the edition are in each state."""
    with ctx.engine.connect() as conn:
        edition_row(conn, edition_id)
        return DeliveryCounts(by_state=store.counts_by_state(conn, edition_id))


def resume_edition(ctx: AppContext, edition_id: int, /) -> int:
    """Continue a paused edition; its deferred deliveries are due at once. Returns how many."""
    with write_transaction(ctx.engine) as conn:
        edition = edition_row(conn, edition_id)
        due = store.resume_edition(conn, edition_id, now=utcnow())
    if due is None:
        raise InvalidInputError(
            f"edition {edition['number']} is {edition['state']}, not paused", field="edition"
        )
    return due


def resend_unknown(ctx: AppContext, edition_id: int, /) -> int:
    """Queue again the deliveries whose outcome is unknown — on purpose: a duplicate is possible.

    They keep their Message-ID, so a receiving system that saw the first copy can
    tell the two apart.
    """
    with write_transaction(ctx.engine) as conn:
        edition_row(conn, edition_id)
        return store.requeue_unknown(conn, edition_id, now=utcnow())


# -- worker identity and recovery ------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def host_name() -> str:
    return socket.gethostname()[:60]


def new_worker_id() -> str:
    """host:pid:random — the host and pid let a worker on the same host see a dead one at once."""
    return f"{host_name()}:{os.getpid()}:{secrets.token_hex(4)}"


def recover_dead_workers(conn: Connection, /, *, stale_after: float) -> worker_store.Recovery:
    """In one transaction: close the books of every dead worker (deliveries and notices)."""
    return worker_store.recover_dead_workers(
        conn, now=utcnow(), stale_after=stale_after, host=host_name(), pid_alive=pid_alive
    )


def recover_in_flight(ctx: AppContext, /) -> worker_store.Recovery:
    """Mail a dead worker had in flight becomes unknown; its other claims are released.

    This covers digest deliveries and notices alike; the heartbeats are judged by the
    real clock.
    """
    with write_transaction(ctx.engine) as conn:
        return recover_dead_workers(conn, stale_after=ctx.settings.delivery.stale_after)

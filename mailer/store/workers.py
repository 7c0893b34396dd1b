"""Delivery workers' registry: register, heartbeat, leave, and close the books of the dead ones.

Recovery covers every queue a worker takes from — digest deliveries and notices — so
a notice in flight when its worker died becomes unknown exactly like a delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from mailer.store.heartbeats import record_heartbeat, remove_heartbeat
from mailer.store.mail_queue import DELIVERY_QUEUE, NOTICE_QUEUE, claimants, close_books_of
from mailer.store.tables import heartbeats

WORKER_ROLE = "worker"


@dataclass(slots=True)
class Recovery:
    """What :func:`recover_dead_workers` did."""

    #: Deliveries that were in flight (now unknown) and claims given back.
    unknown: int = 0
    released: int = 0
    #: The same for notices.
    notices_unknown: int = 0
    notices_released: int = 0
    workers: list[str] = field(default_factory=list)


def register_worker(
    conn: Connection, instance: str, /, *, host: str, pid: int, now: datetime
) -> None:
    record_heartbeat(conn, instance, role=WORKER_ROLE, host=host, pid=pid, started_at=now, now=now)


def beat(conn: Connection, instance: str, /, *, host: str, pid: int, now: datetime) -> bool:
    """Record that the worker is alive; False if its row was gone (it had been judged dead)."""
    return record_heartbeat(
        conn, instance, role=WORKER_ROLE, host=host, pid=pid, started_at=now, now=now
    )


def unregister_worker(conn: Connection, instance: str, /) -> None:
    remove_heartbeat(conn, instance)


def recover_dead_workers(
    conn: Connection,
    /,
    *,
    now: datetime,
    stale_after: float,
    host: str,
    pid_alive: Callable[[int], bool],
) -> Recovery:
    """Close the books of workers that died: their ``sending`` rows → unknown, other claims released.

    A worker is dead when its heartbeat is older than ``stale_after``, when it ran on
    this host and its process is gone, or when rows carry its id but it has no
    heartbeat at all. Its ``sending`` rows are exactly the messages it had on the wire
    (at most one per connection); whether the relay took them cannot be known
    (RFC 1047), so they are not resent automatically (design §4 "Delivery").
    """
    cutoff = now - timedelta(seconds=stale_after)
    alive: set[str] = set()
    dead: list[str] = []
    for row in conn.execute(select(heartbeats).where(heartbeats.c.role == WORKER_ROLE)):
        gone = row.host == host and not pid_alive(row.pid)
        if row.seen_at < cutoff or gone:
            dead.append(row.instance)
        else:
            alive.add(row.instance)
    delivery_orphans = sorted(claimants(conn, DELIVERY_QUEUE) - alive)
    notice_orphans = sorted(claimants(conn, NOTICE_QUEUE) - alive)
    recovery = Recovery(workers=sorted(set(delivery_orphans) | set(notice_orphans) | set(dead)))
    recovery.unknown, recovery.released = close_books_of(
        conn, DELIVERY_QUEUE, delivery_orphans, now=now
    )
    recovery.notices_unknown, recovery.notices_released = close_books_of(
        conn, NOTICE_QUEUE, notice_orphans, now=now
    )
    if dead:
        conn.execute(heartbeats.delete().where(heartbeats.c.instance.in_(dead)))
    return recovery

"""Staff sessions and the staff part of the audit log: rows in, rows out, no policy.

A session row is found by the SHA-256 of its cookie's value. The audit log is
append-only: this module has no function that changes or deletes an audit row
(issue 12 item 8); the timeouts, throttling and roles live in ``mailer.staff``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from mailer.store.staff_tables import staff_sessions, staff_users
from mailer.store.tables import audit_log


def add_session(conn: Connection, token_hash: str, /, *, user_id: int, now: datetime) -> None:
    conn.execute(
        insert(staff_sessions).values(
            token_hash=token_hash, user_id=user_id, created_at=now, last_seen_at=now
        )
    )


def session_by_token_hash(conn: Connection, token_hash: str, /) -> dict | None:
    """The session with its user's email, role, disabled flag and password time, or None."""
    query = (
        select(
            staff_sessions,
            staff_users.c.email,
            staff_users.c.role,
            staff_users.c.disabled,
            staff_users.c.password_set_at,
        )
        .join(staff_users, staff_users.c.id == staff_sessions.c.user_id)
        .where(staff_sessions.c.token_hash == token_hash)
    )
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def touch_session(conn: Connection, session_id: int, /, *, now: datetime) -> None:
    conn.execute(
        update(staff_sessions).where(staff_sessions.c.id == session_id).values(last_seen_at=now)
    )


def end_session(conn: Connection, session_id: int, /) -> None:
    conn.execute(delete(staff_sessions).where(staff_sessions.c.id == session_id))


def end_user_sessions(conn: Connection, user_id: int, /, *, keep: int | None = None) -> int:
    """End every session of ``user_id`` (but ``keep``): disabled, reset or changed password."""
    query = delete(staff_sessions).where(staff_sessions.c.user_id == user_id)
    if keep is not None:
        query = query.where(staff_sessions.c.id != keep)
    return conn.execute(query).rowcount


def append_audit(
    conn: Connection,
    /,
    *,
    at: datetime,
    actor: str,
    action: str,
    client_address: str | None,
    target: str | None = None,
    detail: dict | None = None,
) -> None:
    """Add one audit row; rows are never updated or deleted."""
    conn.execute(
        insert(audit_log).values(
            at=at,
            actor=actor[:320],
            action=action,
            client_address=client_address,
            target=target,
            detail=detail or {},
        )
    )


def count_actions_since(
    conn: Connection,
    action: str,
    /,
    *,
    since: datetime,
    actor: str | None = None,
    client_address: str | None = None,
) -> int:
    """How many ``action`` rows since ``since`` by ``actor`` or from ``client_address`` (either given)."""
    who = []
    if actor is not None:
        who.append(audit_log.c.actor == actor)
    if client_address is not None:
        who.append(audit_log.c.client_address == client_address)
    query = select(func.count()).where(audit_log.c.action == action, audit_log.c.at >= since)
    if who:
        query = query.where(or_(*who))
    return conn.execute(query).scalar_one()


def recent_audit(conn: Connection, /, *, limit: int, prefix: str | None = None) -> list[dict]:
    """The newest audit rows first (``prefix``: only actions starting with it)."""
    query = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
    if prefix:
        query = query.where(audit_log.c.action.startswith(prefix))
    return [dict(row) for row in conn.execute(query).mappings()]


def find_audit(
    conn: Connection,
    /,
    *,
    limit: int,
    actor: str | None = None,
    action: str | None = None,
    action_prefix: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    client_address: str | None = None,
    older_than: int | None = None,
) -> list[dict]:
    """Audit rows matching every filter given, newest first, at most ``limit``.

    ``since`` is inclusive, ``until`` exclusive; ``older_than`` is the id of the last
    row of the previous page: the page goes on with the rows after it in this order.
    """
    query = select(audit_log)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    if action:
        query = query.where(audit_log.c.action == action)
    if action_prefix:
        query = query.where(audit_log.c.action.startswith(action_prefix, autoescape=True))
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if until is not None:
        query = query.where(audit_log.c.at < until)
    if client_address:
        query = query.where(audit_log.c.client_address == client_address)
    if older_than is not None:
        mark = select(audit_log.c.at).where(audit_log.c.id == older_than).scalar_subquery()
        query = query.where(
            or_(
                audit_log.c.at < mark,
                and_(audit_log.c.at == mark, audit_log.c.id < older_than),
            )
        )
    query = query.order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
    return [dict(row) for row in conn.execute(query).mappings()]


def delete_dead_sessions(
    conn: Connection, /, *, started_before: datetime, idle_since: datetime
) -> int:
    """Delete sessions begun before ``started_before`` or unused since ``idle_since``."""
    query = delete(staff_sessions).where(
        or_(
            staff_sessions.c.created_at < started_before, staff_sessions.c.last_seen_at < idle_since
        )
    )
    return conn.execute(query).rowcount

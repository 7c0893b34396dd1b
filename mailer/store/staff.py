"""Staff users and their one-time set-password links: rows in, rows out, no policy.

Links are looked up by the SHA-256 of their token through a unique index, so the
database compares hashes, never the token (see ``mailer.store.link_tokens``). The
rules — who may have a link, how long it lasts, what a password must be — live in
the use cases (``mailer.staff``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from mailer.store.staff_tables import staff_password_links, staff_users

#: What a link does when used: set a user's password, or create the first admin.
SET_PASSWORD, FIRST_ADMIN = "set_password", "first_admin"


def _one(conn: Connection, query) -> dict | None:
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def add_user(conn: Connection, email: str, /, *, role: str, now: datetime) -> int:
    """Insert a user without a password; the caller checked that the address is free."""
    result = conn.execute(
        insert(staff_users).values(
            email=email, role=role, disabled=False, created_at=now, updated_at=now
        )
    )
    return result.inserted_primary_key[0]


def user_by_email(conn: Connection, email: str, /, *, lock: bool = False) -> dict | None:
    query = select(staff_users).where(staff_users.c.email == email)
    return _one(conn, query.with_for_update() if lock else query)


def user_by_id(conn: Connection, user_id: int, /, *, lock: bool = False) -> dict | None:
    query = select(staff_users).where(staff_users.c.id == user_id)
    return _one(conn, query.with_for_update() if lock else query)


def list_users(conn: Connection) -> list[dict]:
    rows = conn.execute(select(staff_users).order_by(staff_users.c.email)).mappings()
    return [dict(row) for row in rows]


def count_enabled_admins(conn: Connection) -> int:
    query = select(func.count()).where(
        staff_users.c.role == "admin", staff_users.c.disabled.is_(False)
    )
    return conn.execute(query).scalar_one()


def set_disabled(conn: Connection, user_id: int, /, *, disabled: bool, now: datetime) -> None:
    conn.execute(
        update(staff_users)
        .where(staff_users.c.id == user_id)
        .values(disabled=disabled, updated_at=now)
    )


def set_password_hash(
    conn: Connection, user_id: int, password_hash: str, /, *, now: datetime
) -> None:
    """Store a new hash; ``password_set_at`` moves only when the password itself changed."""
    conn.execute(
        update(staff_users)
        .where(staff_users.c.id == user_id)
        .values(password_hash=password_hash, password_set_at=now, updated_at=now)
    )


def replace_hash(conn: Connection, user_id: int, old_hash: str, new_hash: str, /) -> None:
    """Swap in a rehash of the same password (stronger parameters), unless it changed meanwhile."""
    conn.execute(
        update(staff_users)
        .where(staff_users.c.id == user_id, staff_users.c.password_hash == old_hash)
        .values(password_hash=new_hash)
    )


def add_link(
    conn: Connection,
    token_hash: str,
    /,
    *,
    user_id: int | None,
    purpose: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    conn.execute(
        insert(staff_password_links).values(
            token_hash=token_hash,
            user_id=user_id,
            purpose=purpose,
            created_at=now,
            expires_at=expires_at,
        )
    )


def drop_unused_links(conn: Connection, *, user_id: int | None, purpose: str) -> int:
    """Delete the links of ``user_id`` (or the first-admin links) not used yet; their tokens open nothing after."""
    owner = (
        staff_password_links.c.user_id.is_(None)
        if user_id is None
        else staff_password_links.c.user_id == user_id
    )
    result = conn.execute(
        delete(staff_password_links).where(
            owner,
            staff_password_links.c.purpose == purpose,
            staff_password_links.c.used_at.is_(None),
        )
    )
    return result.rowcount


def link_by_token_hash(conn: Connection, token_hash: str, /, *, lock: bool = False) -> dict | None:
    query = select(staff_password_links).where(staff_password_links.c.token_hash == token_hash)
    return _one(conn, query.with_for_update() if lock else query)


def mark_link_used(conn: Connection, link_id: int, /, *, now: datetime) -> bool:
    """Mark the link used; False when another request used it first."""
    result = conn.execute(
        update(staff_password_links)
        .where(staff_password_links.c.id == link_id, staff_password_links.c.used_at.is_(None))
        .values(used_at=now)
    )
    return result.rowcount == 1


def clear_password(conn: Connection, user_id: int, /, *, now: datetime) -> None:
    """Forget the password (a reset): the account cannot log in until a link sets a new one."""
    conn.execute(
        update(staff_users)
        .where(staff_users.c.id == user_id)
        .values(password_hash=None, password_set_at=now, updated_at=now)
    )


def delete_dead_links(conn: Connection, /, *, now: datetime) -> int:
    """Delete links used already or expired by ``now``: they open nothing any more."""
    query = delete(staff_password_links).where(
        or_(staff_password_links.c.used_at.is_not(None), staff_password_links.c.expires_at <= now)
    )
    return conn.execute(query).rowcount

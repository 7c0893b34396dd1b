"""Staff log-in, sessions with idle and absolute timeouts, throttling, log-out, changed passwords, the audit of each.

Issue 12 items 1 and 8. A session is a random token in an HttpOnly cookie; the database
keeps its SHA-256. A session ends after ``admin.session_idle_minutes`` unused, after
``admin.session_hours`` however used, when its user is disabled, and when the password
changes (other sessions of that user). Failed log-ins are audit rows, and counting them
over ``admin.login_window_minutes`` per account and per client address is the throttle,
so it holds across processes and restarts. Password hashing happens before any write
transaction opens (design §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mailer.errors import InvalidInputError, MailerError
from mailer.keys import new_access_token, token_hash
from mailer.models import normalise_email
from mailer.staff import accounts
from mailer.store import staff_sessions as store
from mailer.store.db import write_transaction

if TYPE_CHECKING:
    from mailer.context import AppContext

LOGIN_OK, LOGIN_FAILED, LOGIN_THROTTLED = (
    "staff.login",
    "staff.login_failed",
    "staff.login_throttled",
)
LOGOUT, PASSWORD_CHANGED, PASSWORD_SET = (
    "staff.logout",
    "staff.password_changed",
    "staff.password_set",
)


class LoginRefused(MailerError):
    """Wrong address or password, a disabled account, or one without a password: one answer for all."""


class LoginThrottled(MailerError):
    """Too many failed log-ins for this account or from this address within the window."""


@dataclass(frozen=True)
class Session:
    """A live session: its row id and the account it belongs to."""

    id: int
    user_id: int
    email: str
    role: str
    created_at: datetime


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _throttled(ctx: AppContext, email: str, client: str | None, now: datetime) -> bool:
    limits = ctx.settings.admin
    since = now - timedelta(minutes=limits.login_window_minutes)
    with ctx.engine.connect() as conn:
        by_account = store.count_actions_since(conn, LOGIN_FAILED, since=since, actor=email)
        by_address = 0
        if client is not None:
            by_address = store.count_actions_since(
                conn, LOGIN_FAILED, since=since, client_address=client
            )
    return (
        by_account >= limits.login_failures_per_account
        or by_address >= limits.login_failures_per_address
    )


def audit(
    ctx: AppContext,
    action: str,
    /,
    *,
    actor: str,
    client: str | None,
    target: str | None = None,
    before: object = None,
    after: object = None,
    now: datetime | None = None,
) -> None:
    """Append one staff action to the audit log, with what changed (a before/after summary)."""
    detail = {key: value for key, value in (("before", before), ("after", after)) if value}
    with write_transaction(ctx.engine) as conn:
        store.append_audit(
            conn,
            at=_now(now),
            actor=actor,
            action=action,
            client_address=client,
            target=target,
            detail=detail,
        )


def log_in(
    ctx: AppContext,
    email: str,
    password: str,
    /,
    *,
    client: str | None,
    now: datetime | None = None,
) -> tuple[str, accounts.StaffUser]:
    """(session token for the cookie, the user), or LoginThrottled / LoginRefused; each try is audited."""
    now = _now(now)
    email = normalise_email(email)[:320]
    if _throttled(ctx, email, client, now):
        audit(ctx, LOGIN_THROTTLED, actor=email or "-", client=client, now=now)
        raise LoginThrottled("too many failed log-ins for this account or address")
    user = accounts.verify_password(ctx, email, password) if email and password else None
    if user is None:
        audit(ctx, LOGIN_FAILED, actor=email or "-", client=client, now=now)
        raise LoginRefused("wrong address or password")
    token = new_access_token()
    with write_transaction(ctx.engine) as conn:
        store.add_session(conn, token_hash(token), user_id=user.id, now=now)
        store.append_audit(conn, at=now, actor=user.email, action=LOGIN_OK, client_address=client)
    return token, user


def current_session(
    ctx: AppContext, token: str, /, *, now: datetime | None = None
) -> Session | None:
    """The live session of ``token`` (its last-seen time moves to ``now``), or None; a dead one is deleted."""
    now = _now(now)
    if not token:
        return None
    limits = ctx.settings.admin
    with ctx.engine.connect() as conn:
        row = store.session_by_token_hash(conn, token_hash(token))
    if row is None:
        return None
    dead = (
        row["disabled"]
        or now - row["last_seen_at"] >= timedelta(minutes=limits.session_idle_minutes)
        or now - row["created_at"] >= timedelta(hours=limits.session_hours)
        or (row["password_set_at"] is not None and row["password_set_at"] > row["created_at"])
    )
    with write_transaction(ctx.engine) as conn:
        if dead:
            store.end_session(conn, row["id"])
            return None
        store.touch_session(conn, row["id"], now=now)
    return Session(
        id=row["id"],
        user_id=row["user_id"],
        email=row["email"],
        role=row["role"],
        created_at=row["created_at"],
    )


def log_out(
    ctx: AppContext, session: Session, /, *, client: str | None, now: datetime | None = None
) -> None:
    with write_transaction(ctx.engine) as conn:
        store.end_session(conn, session.id)
        store.append_audit(
            conn, at=_now(now), actor=session.email, action=LOGOUT, client_address=client
        )


def change_password(
    ctx: AppContext,
    session: Session,
    current: str,
    new: str,
    /,
    *,
    client: str | None,
    now: datetime | None = None,
) -> tuple[str, accounts.StaffUser]:
    """Check ``current``, set ``new`` (policy-checked); every session of the user ends and a new one begins.

    Returns the new session's token. InvalidInputError (field ``current``) for a wrong
    current password, ``PasswordRefused`` (field ``password``) for a refused new one.
    """
    now = _now(now)
    if accounts.verify_password(ctx, session.email, current) is None:
        audit(ctx, LOGIN_FAILED, actor=session.email, client=client, target="password", now=now)
        raise InvalidInputError("the current password is wrong", field="current")
    user = accounts.set_password(ctx, session.email, new, now=now)
    token = new_access_token()
    with write_transaction(ctx.engine) as conn:
        store.end_user_sessions(conn, user.id)
        # One microsecond on: a session begun at the password's time would count as older.
        store.add_session(
            conn, token_hash(token), user_id=user.id, now=now + timedelta(microseconds=1)
        )
        store.append_audit(
            conn, at=now, actor=user.email, action=PASSWORD_CHANGED, client_address=client
        )
    return token, user


def recent_audit(ctx: AppContext, /, *, limit: int = 200, prefix: str | None = None) -> list[dict]:
    """The newest audit rows, for the admin's audit page (an admin-only permission)."""
    with ctx.engine.connect() as conn:
        return store.recent_audit(conn, limit=limit, prefix=prefix)

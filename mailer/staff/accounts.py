"""Staff accounts: add, list, disable and enable users, one-time set-password links, password checks, the first admin.

Issue 12 item 1. No password is ever made up: a new user gets a one-time link
(valid :data:`LINK_LIFETIME`) that sets it, or the operator pipes one in
(``--password-stdin``); a fresh install with no enabled admin gets a link that creates
the first admin (:func:`first_admin_link`, printed by ``mailer serve``). The database
keeps only the SHA-256 of a link's token and the argon2id hash of a password.

Hashing is slow on purpose (tens of milliseconds), so it happens before a write
transaction opens; the transaction then re-checks what it relied on (the link still
unused, still no admin) — design §4, "no I/O inside a write transaction".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from email_validator import EmailNotValidError, validate_email

from mailer.errors import InvalidInputError, NotFoundError
from mailer.keys import new_access_token, token_hash
from mailer.models import normalise_email
from mailer.roles import HasRole, require
from mailer.staff.passwords import Passwords, check_password
from mailer.store import staff as store
from mailer.store.db import check_database, write_transaction
from mailer.store.staff import FIRST_ADMIN, SET_PASSWORD
from mailer.store.staff_sessions import append_audit, end_user_sessions
from mailer.store.staff_tables import ROLES

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext

LINK_LIFETIME = timedelta(hours=24)
#: The path of the page that consumes a link (the admin's set-password page).
LINK_PATH = "/admin/set-password/"

#: One hasher per process: its dummy hash (for unknown accounts) is made once.
_passwords = Passwords()


@dataclass(frozen=True)
class StaffUser:
    """A staff account as the CLI and the admin show it (never its password hash)."""

    id: int
    email: str
    role: str
    disabled: bool
    has_password: bool
    created_at: datetime
    updated_at: datetime
    password_set_at: datetime | None

    @property
    def state(self) -> str:
        """``disabled``, ``active`` (can log in) or ``invited`` (no password set yet)."""
        if self.disabled:
            return "disabled"
        return "active" if self.has_password else "invited"

    def as_json(self) -> dict[str, object]:
        return {
            "email": self.email,
            "role": self.role,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "password_set_at": self.password_set_at.isoformat() if self.password_set_at else None,
        }


@dataclass(frozen=True)
class PasswordLink:
    """A one-time link just made; ``url`` holds the token, which is not stored anywhere."""

    url: str
    expires_at: datetime
    purpose: str
    email: str | None


@dataclass(frozen=True)
class OpenLink:
    """What a valid, unused link opens: a user's password, or the first admin's account."""

    purpose: str
    email: str | None
    expires_at: datetime


def _user(row: dict) -> StaffUser:
    return StaffUser(
        id=row["id"],
        email=row["email"],
        role=row["role"],
        disabled=row["disabled"],
        has_password=row["password_hash"] is not None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        password_set_at=row["password_set_at"],
    )


def check_email(address: str, /) -> str:
    """The canonical form of a staff address, or InvalidInputError (field ``email``)."""
    email = normalise_email(address)
    try:
        validate_email(email, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise InvalidInputError(
            f"invalid email address {address!r}: {exc}", field="email"
        ) from None
    return email


def check_role(role: str, /) -> str:
    if role not in ROLES:
        raise InvalidInputError(f"unknown role {role!r}: use {' or '.join(ROLES)}", field="role")
    return role


def _state(row: dict) -> str:
    return _user(row).state


def _audit(conn, action: str, row: dict, *, who: tuple[str, str | None], before, now) -> None:
    """One ``user.*`` audit row in the change's own write: who did it, to whom, the state before/after."""
    after = {"role": row["role"], "state": _state(row)}
    detail = {"before": before, "after": after} if before else {"after": after}
    actor, client = who
    append_audit(
        conn,
        at=now,
        actor=actor,
        action=action,
        client_address=client,
        target=row["email"],
        detail=detail,
    )


def _caller(account: HasRole | None, actor: str, client: str | None) -> tuple[str, str | None]:
    """(actor, client) of a user change; a web staff member must have ``manage_users``.

    The CLI is the operator (``account`` None, actor ``"cli"``); from the web the actor
    is the staff member's address.
    """
    if account is not None:
        require(account, "manage_users")
        actor = getattr(account, "email", None) or actor
    return actor, client


def _new_link(
    ctx: AppContext, conn, *, user_id: int | None, email: str | None, purpose: str, now: datetime
) -> PasswordLink:
    """Kill the owner's unused links of this purpose and store a new one (in ``conn``'s write)."""
    store.drop_unused_links(conn, user_id=user_id, purpose=purpose)
    token = new_access_token()
    expires_at = now + LINK_LIFETIME
    store.add_link(
        conn, token_hash(token), user_id=user_id, purpose=purpose, now=now, expires_at=expires_at
    )
    url = f"{ctx.settings.base_url.rstrip('/')}{LINK_PATH}{token}"
    return PasswordLink(url=url, expires_at=expires_at, purpose=purpose, email=email)


def add_user(
    ctx: AppContext,
    email: str,
    /,
    *,
    role: str,
    password: str | None = None,
    now: datetime | None = None,
    actor: str = "cli",
    client: str | None = None,
    account: HasRole | None = None,
) -> tuple[StaffUser, PasswordLink | None]:
    """Create a staff user; with ``password`` (checked by the policy) it is set, else a one-time link is returned."""
    who = _caller(account, actor, client)
    now = now or datetime.now(UTC)
    email, role = check_email(email), check_role(role)
    hashed = None
    if password is not None:
        check_password(password, email=email)
        hashed = _passwords.hash(password)
    with write_transaction(ctx.engine) as conn:
        if store.user_by_email(conn, email) is not None:
            raise InvalidInputError(f"staff user {email} exists already", field="email")
        user_id = store.add_user(conn, email, role=role, now=now)
        link = None
        if hashed is None:
            link = _new_link(ctx, conn, user_id=user_id, email=email, purpose=SET_PASSWORD, now=now)
        else:
            store.set_password_hash(conn, user_id, hashed, now=now)
        row = store.user_by_id(conn, user_id)
        _audit(conn, "user.add", row, who=who, before=None, now=now)
    return _user(row), link


def list_users(ctx: AppContext) -> list[StaffUser]:
    with ctx.engine.connect() as conn:
        return [_user(row) for row in store.list_users(conn)]


def _existing(conn, email: str) -> dict:
    row = store.user_by_email(conn, normalise_email(email), lock=True)
    if row is None:
        raise NotFoundError("staff user", normalise_email(email))
    return row


def disable_user(
    ctx: AppContext,
    email: str,
    /,
    *,
    now: datetime | None = None,
    actor: str = "cli",
    client: str | None = None,
    account: HasRole | None = None,
) -> StaffUser:
    """Stop a user from logging in; unused links die. The last enabled admin cannot be disabled."""
    who = _caller(account, actor, client)
    now = now or datetime.now(UTC)
    with write_transaction(ctx.engine) as conn:
        row = _existing(conn, email)
        before = {"role": row["role"], "state": _state(row)}
        if row["role"] == "admin" and not row["disabled"] and store.count_enabled_admins(conn) == 1:
            raise InvalidInputError(
                f"{row['email']} is the only enabled admin: add another admin before disabling it",
                field="email",
            )
        store.set_disabled(conn, row["id"], disabled=True, now=now)
        store.drop_unused_links(conn, user_id=row["id"], purpose=SET_PASSWORD)
        end_user_sessions(conn, row["id"])
        after = store.user_by_id(conn, row["id"])
        _audit(conn, "user.disable", after, who=who, before=before, now=now)
        return _user(after)


def enable_user(
    ctx: AppContext,
    email: str,
    /,
    *,
    now: datetime | None = None,
    actor: str = "cli",
    client: str | None = None,
    account: HasRole | None = None,
) -> StaffUser:
    """Let a disabled user log in again (with the password it had, if any)."""
    who = _caller(account, actor, client)
    now = now or datetime.now(UTC)
    with write_transaction(ctx.engine) as conn:
        row = _existing(conn, email)
        before = {"role": row["role"], "state": _state(row)}
        store.set_disabled(conn, row["id"], disabled=False, now=now)
        after = store.user_by_id(conn, row["id"])
        _audit(conn, "user.enable", after, who=who, before=before, now=now)
        return _user(after)


def reset_link(
    ctx: AppContext,
    email: str,
    /,
    *,
    now: datetime | None = None,
    actor: str = "cli",
    client: str | None = None,
    account: HasRole | None = None,
) -> PasswordLink:
    """A new one-time link for ``email``; earlier unused links and the current password stop working.

    The password is cleared too: a reset is also what an admin does when a password
    may have leaked, and a leaked password must not keep working until the link is used.
    """
    who = _caller(account, actor, client)
    now = now or datetime.now(UTC)
    with write_transaction(ctx.engine) as conn:
        row = _existing(conn, email)
        if row["disabled"]:
            raise InvalidInputError(
                f"{row['email']} is disabled: `mailer users enable` it first", field="email"
            )
        before = {"role": row["role"], "state": _state(row)}
        store.clear_password(conn, row["id"], now=now)
        end_user_sessions(conn, row["id"])
        link = _new_link(
            ctx, conn, user_id=row["id"], email=row["email"], purpose=SET_PASSWORD, now=now
        )
        after = store.user_by_id(conn, row["id"])
        _audit(conn, "user.reset", after, who=who, before=before, now=now)
        return link


def first_admin_link(ctx: AppContext, /, *, now: datetime | None = None) -> PasswordLink | None:
    """With no enabled admin, a one-time link that creates the first one (earlier such links die); else None."""
    now = now or datetime.now(UTC)
    # StoreError when the schema is not there yet (serve before init): no link then.
    check_database(ctx.engine)
    with ctx.engine.connect() as conn:
        if store.count_enabled_admins(conn):
            return None
    with write_transaction(ctx.engine) as conn:
        if store.count_enabled_admins(conn):
            return None
        return _new_link(ctx, conn, user_id=None, email=None, purpose=FIRST_ADMIN, now=now)


def set_password(
    ctx: AppContext, email: str, password: str, /, *, now: datetime | None = None
) -> StaffUser:
    """Set ``email``'s password directly (``users add --password-stdin``, a changed password)."""
    now = now or datetime.now(UTC)
    email = normalise_email(email)
    check_password(password, email=email)
    hashed = _passwords.hash(password)
    with write_transaction(ctx.engine) as conn:
        row = _existing(conn, email)
        store.set_password_hash(conn, row["id"], hashed, now=now)
        store.drop_unused_links(conn, user_id=row["id"], purpose=SET_PASSWORD)
        return _user(store.user_by_id(conn, row["id"]))


def verify_password(ctx: AppContext, email: str, password: str, /) -> StaffUser | None:
    """The enabled user ``email`` if ``password`` is theirs, else None (unknown, disabled, unset or wrong alike).

    A match with an outdated hash stores a fresh argon2id hash of the same password.
    """
    with ctx.engine.connect() as conn:
        row = store.user_by_email(conn, normalise_email(email))
    stored = row["password_hash"] if row and not row["disabled"] else None
    verified = _passwords.verify(stored, password)
    if verified is None:
        return None
    if verified.rehash is not None:
        with write_transaction(ctx.engine) as conn:
            store.replace_hash(conn, row["id"], stored, verified.rehash)
    return _user(row)

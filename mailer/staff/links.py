"""Using a one-time link: what it opens, and setting the password (or creating the first admin) with it.

Issue 12 item 1; the links are made in :mod:`mailer.staff.accounts`. A link works once,
until it expires, and not for a disabled user; a first-admin link dies as soon as any
admin exists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mailer.errors import InvalidInputError
from mailer.keys import token_hash
from mailer.staff.accounts import OpenLink, StaffUser, _passwords, _user, check_email
from mailer.staff.passwords import check_password
from mailer.store import staff as store
from mailer.store.db import write_transaction
from mailer.store.staff import FIRST_ADMIN

if TYPE_CHECKING:
    from mailer.context import AppContext

_LINK_DEAD = (
    "이 링크는 만료되었거나 이미 사용되었습니다 / this link has expired or was used already"
)


def _live_link(conn, token: str, *, now: datetime, lock: bool = False) -> tuple[dict, dict | None]:
    """The link row and its user, or InvalidInputError (field ``token``) for any dead link."""
    link = store.link_by_token_hash(conn, token_hash(token), lock=lock)
    if link is None or link["used_at"] is not None or link["expires_at"] <= now:
        raise InvalidInputError(_LINK_DEAD, field="token")
    user = None
    if link["user_id"] is not None:
        user = store.user_by_id(conn, link["user_id"], lock=lock)
        if user is None or user["disabled"]:
            raise InvalidInputError(_LINK_DEAD, field="token")
    elif store.count_enabled_admins(conn):
        # A first-admin link dies as soon as any admin exists (made by the CLI, say).
        raise InvalidInputError(_LINK_DEAD, field="token")
    return link, user


def open_link(ctx: AppContext, token: str, /, *, now: datetime | None = None) -> OpenLink:
    """What ``token`` opens, for the set-password page; InvalidInputError when it opens nothing."""
    now = now or datetime.now(UTC)
    with ctx.engine.connect() as conn:
        link, user = _live_link(conn, token, now=now)
    return OpenLink(
        purpose=link["purpose"],
        email=user["email"] if user else None,
        expires_at=link["expires_at"],
    )


def set_password_with_link(
    ctx: AppContext,
    token: str,
    password: str,
    /,
    *,
    email: str | None = None,
    now: datetime | None = None,
) -> StaffUser:
    """Use a one-time link: set the user's password, or (first-admin link) create the admin ``email``.

    The link works once: a second use, an expired link or one whose user was disabled
    raise InvalidInputError (field ``token``); a password the policy refuses raises
    ``PasswordRefused`` and leaves the link usable.
    """
    now = now or datetime.now(UTC)
    opened = open_link(ctx, token, now=now)
    if opened.purpose == FIRST_ADMIN:
        if not email:
            raise InvalidInputError(
                "이메일 주소를 입력하세요 / enter an email address", field="email"
            )
        email = check_email(email)
    else:
        email = opened.email
    check_password(password, email=email)
    hashed = _passwords.hash(password)
    with write_transaction(ctx.engine) as conn:
        link, user = _live_link(conn, token, now=now, lock=True)
        if not store.mark_link_used(conn, link["id"], now=now):
            raise InvalidInputError(_LINK_DEAD, field="token")
        if user is None:
            if store.user_by_email(conn, email) is not None:
                raise InvalidInputError(f"staff user {email} exists already", field="email")
            user_id = store.add_user(conn, email, role="admin", now=now)
        else:
            user_id = user["id"]
        store.set_password_hash(conn, user_id, hashed, now=now)
        return _user(store.user_by_id(conn, user_id))

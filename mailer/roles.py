"""What each staff role may do (issue 12 item 2), checked in the use cases with :func:`require`.

``admin`` does everything; ``editor`` edits templates, the seminar block and feeds,
previews and test-sends to its own address, but cannot send to the list, manage
users, change compliance settings, see the audit log, export or erase subscribers.
Pages only hide what a role cannot do; the check that counts is ``require``.

A leaf (plain data and two checks), so every step's use cases can check the role of
the account that calls them: the seminar block is edited in ``digest``, accounts in
``staff``. ``mailer.staff`` re-exports these names.
"""

from __future__ import annotations

from typing import Protocol

from mailer.errors import MailerError

#: Permission → the roles that have it. New pages add their permission here.
PERMISSIONS: dict[str, frozenset[str]] = {
    "use_admin": frozenset({"admin", "editor"}),
    "edit_templates": frozenset({"admin", "editor"}),
    "edit_seminar": frozenset({"admin", "editor"}),
    "edit_feeds": frozenset({"admin", "editor"}),
    "preview": frozenset({"admin", "editor"}),
    "test_send_to_self": frozenset({"admin", "editor"}),
    "edit_schedules": frozenset({"admin"}),
    "send_to_list": frozenset({"admin"}),
    "manage_users": frozenset({"admin"}),
    "change_compliance": frozenset({"admin"}),
    "view_audit": frozenset({"admin"}),
    "export_subscribers": frozenset({"admin"}),
    "erase_subscribers": frozenset({"admin"}),
}


class PermissionDenied(MailerError):
    """The account's role does not allow the action (HTTP 403 at the edge)."""

    def __init__(self, role: str, permission: str) -> None:
        super().__init__(f"role {role!r} may not {permission}")
        self.role = role
        self.permission = permission


class HasRole(Protocol):
    role: str


def allowed(account: HasRole, permission: str, /) -> bool:
    """Whether ``account`` may do ``permission``; an unknown permission is a programming error."""
    return account.role in PERMISSIONS[permission]


def require(account: HasRole, permission: str, /) -> None:
    """Raise :class:`PermissionDenied` unless ``account``'s role has ``permission``."""
    if not allowed(account, permission):
        raise PermissionDenied(account.role, permission)

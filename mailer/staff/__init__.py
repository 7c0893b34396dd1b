"""The staff step: accounts and roles of the people who run the admin (issue 12).

- accounts, one-time set-password links, the first admin, the audit of each user change: :mod:`mailer.staff.accounts`;
- using a link: :mod:`mailer.staff.links`;
- the audit log with filters: :mod:`mailer.staff.audit_log`; the purge of dead sessions and links: :mod:`mailer.staff.purge`;
- the password policy and argon2id hashing: :mod:`mailer.staff.passwords`;
- log-in, sessions, throttling and the staff audit log: :mod:`mailer.staff.sessions`;
- what each role may do: :mod:`mailer.roles` (a leaf, re-exported here).

May import: the leaves (config, errors, models, context, keys) and ``store``. It does
not import another step. Other packages use only the names below.
"""

from mailer.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AuditFilter": "audit_log",
        "AuditPage": "audit_log",
        "find_audit": "audit_log",
        "purge_expired_staff_rows": "purge",
        "LINK_LIFETIME": "accounts",
        "OpenLink": "accounts",
        "PasswordLink": "accounts",
        "StaffUser": "accounts",
        "add_user": "accounts",
        "disable_user": "accounts",
        "enable_user": "accounts",
        "first_admin_link": "accounts",
        "list_users": "accounts",
        "open_link": "links",
        "reset_link": "accounts",
        "set_password": "accounts",
        "set_password_with_link": "links",
        "verify_password": "accounts",
        "MIN_LENGTH": "passwords",
        "PasswordRefused": "passwords",
        "check_password": "passwords",
        "PERMISSIONS": "roles",
        "PermissionDenied": "roles",
        "allowed": "roles",
        "require": "roles",
        "LoginRefused": "sessions",
        "LoginThrottled": "sessions",
        "Session": "sessions",
        "audit": "sessions",
        "change_password": "sessions",
        "current_session": "sessions",
        "log_in": "sessions",
        "log_out": "sessions",
        "recent_audit": "sessions",
    },
)

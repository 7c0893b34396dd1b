"""The staff roles, re-exported: the table and the checks live in the leaf :mod:`mailer.roles`."""

from mailer.roles import PERMISSIONS, HasRole, PermissionDenied, allowed, require

__all__ = ["PERMISSIONS", "HasRole", "PermissionDenied", "allowed", "require"]

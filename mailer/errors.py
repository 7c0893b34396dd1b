"""The exception tree: one base, subclasses that carry the data a caller needs.

Errors become HTTP responses or exit codes only at the edges (web, cli).
"""

from __future__ import annotations


class MailerError(Exception):
    """Base of every error the service raises on purpose."""


class ConfigError(MailerError):
    """The settings are invalid; start-up stops (exit code 2)."""


class NotAvailableError(MailerError):
    """A feature that this version does not provide yet."""


class StoreError(MailerError):
    """The database cannot be reached or is in an unexpected shape."""


class NotFoundError(MailerError, LookupError):
    """A named thing (feed, edition, schedule, subscriber) does not exist."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!s} not found")
        self.kind = kind
        self.key = key


class InvalidInputError(MailerError, ValueError):
    """User input was refused; ``field`` names the input, the message says why."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class FeedError(MailerError):
    """A feed could not be fetched or parsed; the message is shown to staff."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TemplateError(MailerError):
    """A template failed to compile or render; carries its name and line."""

    def __init__(self, message: str, *, template: str | None = None, line: int | None = None):
        where = f"{template or '<template>'}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {message}")
        self.template = template
        self.line = line
        self.reason = message


class DeliveryError(MailerError):
    """An SMTP attempt failed; ``temporary`` says whether to retry."""

    def __init__(self, message: str, *, code: int | None = None, temporary: bool) -> None:
        super().__init__(message)
        self.code = code
        self.temporary = temporary


class TransportError(DeliveryError):
    """The relay itself is unusable (down, refusing auth, TLS failure), not one recipient."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message, code=code, temporary=True)

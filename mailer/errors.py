"""The exception tree: one base, subclasses that carry the data a caller needs.

Errors become HTTP responses or exit codes only at the edges (web, cli); nothing
below them knows a status code. Where a builtin means the same thing, an error
inherits it too, so ``except LookupError`` or ``except ConnectionError`` also work.

    MailerError
    ├── ConfigError                  settings or a config file are invalid (exit 2)
    ├── NotAvailableError            a feature this version does not provide yet
    ├── StoreError                   the database is unreachable or in an unexpected shape
    ├── NotFoundError (LookupError)  a named feed, edition, schedule, subscriber … is missing
    ├── InvalidInputError (ValueError)       input refused; ``field`` names it
    │   └── InvalidSubscriberInput           several form fields wrong at once (``problems``)
    ├── RequestTooLarge              a request body over the configured cap (413 at the web edge)
    ├── SignupThrottled              too many signups from one client address (``retry_after``)
    ├── LeaseTaken                   another process holds a lease (``holder``, ``expires_at``)
    ├── JobSkipped                   a scheduled job chose not to run; the message is the reason
    ├── FeedError                    a feed could not be fetched or parsed (``retry_after``)
    │   ├── FeedGone                 HTTP 410: the publisher removed the feed (disable it)
    │   └── BlockedAddressError      the SSRF guard refused the target address
    ├── TemplateError                a template failed to compile or render (``template``, ``line``)
    └── DeliveryError                an SMTP attempt failed (``code``, ``temporary``)
        ├── RefusedAt                the relay answered one stage with an error (``stage``)
        ├── NoSmtpUtf8               the address needs SMTPUTF8 and the relay lacks it
        └── TransportError (ConnectionError)  the relay itself is unusable, not one recipient
            └── LostReply            sent in full, reply lost: the outcome is unknown
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime


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


class InvalidSubscriberInput(InvalidInputError):
    """Several fields may be wrong at once; ``problems`` maps each field to its problem code."""

    def __init__(self, problems: Mapping[str, str], /, *, message: str) -> None:
        super().__init__(message, field=next(iter(problems)))
        self.problems = dict(problems)


class RequestTooLarge(MailerError):
    """A request body is over the configured cap."""


class SignupThrottled(MailerError):
    """Too many signups from one IP address in the current hour."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many signups from this address; try again later")
        self.retry_after = retry_after


class LeaseTaken(MailerError):
    """Another process holds the lease; carries who and until when."""

    def __init__(self, name: str, holder: str | None, expires_at: datetime | None) -> None:
        until = f" until {expires_at:%Y-%m-%d %H:%M:%S} UTC" if expires_at else ""
        super().__init__(f"lease {name!r} is held by {holder or 'another process'}{until}")
        self.name = name
        self.holder = holder
        self.expires_at = expires_at


class JobSkipped(MailerError):
    """The job chose not to do its work this time; the message is recorded as the reason."""


class FeedError(MailerError):
    """A feed could not be fetched or parsed; the message is shown to staff."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FeedGone(FeedError):
    """The server answered 410 Gone: the feed was removed on purpose (disable it)."""


class BlockedAddressError(FeedError):
    """The fetch would reach an address the SSRF guard refuses."""


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


class RefusedAt(DeliveryError):
    """The relay answered a command of the transaction with an error code."""

    def __init__(self, stage: str, code: int, message: str, *, smtputf8: bool = False) -> None:
        super().__init__(f"{stage}: {code} {message}", code=code, temporary=code < 500)
        self.stage = stage
        #: The transaction asked for SMTPUTF8: a refusal may be about this address only.
        self.smtputf8 = smtputf8


class NoSmtpUtf8(DeliveryError):
    """The address needs SMTPUTF8 (RFC 6531) and the relay does not offer it: this
    delivery cannot succeed on this relay, but the relay itself is fine."""


class TransportError(DeliveryError, ConnectionError):
    """The relay itself is unusable (down, refusing auth, TLS failure), not one recipient."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        DeliveryError.__init__(self, message, code=code, temporary=True)


class LostReply(TransportError):
    """The message was sent in full but the relay's reply never came: it may have been delivered."""

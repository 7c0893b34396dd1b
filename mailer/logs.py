"""Logging for the long-running commands: one format, and no token or email address in any line.

Links in our mail carry tokens that never expire (unsubscribe, preferences) and
addresses turn up in SMTP errors, so every line is redacted before any handler writes
it (issue 11 item 7, design §4 "Logs never carry tokens, secrets or email addresses"):

- the path segment after a token route (``/confirm/…``, ``/unsubscribe/…``,
  ``/preferences/…``) becomes ``[token]``, so the request is still visible;
- query-string values become ``[redacted]``, except the few harmless keys in
  :data:`SAFE_QUERY_KEYS`;
- email addresses, plain or percent-encoded, become ``[email]``;
- any other token-shaped string (24+ URL-safe characters mixing upper and lower case
  and digits, as ``secrets.token_urlsafe`` makes) becomes ``[token]``.

:class:`RedactingFilter` does this to the message, its arguments and the traceback
text, and to the string values of any ``extra=`` fields; :func:`configure_logging`
installs it on every handler it creates.

Lines are text for people by default, or one JSON object each (``log.format = "json"``,
python-json-logger) for log collectors: ``time``, ``level``, ``logger``, ``message``, a
traceback as ``exc_info``, and the ``extra=`` fields a record carries — the summary lines
of a poll run, an edition and a worker batch give their figures that way (issue 14 item 3).
"""

from __future__ import annotations

import logging
import logging.config
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

#: Routes whose next path segment is a token (a new token route must be added here;
#: tests/web/test_headers.py fails for a route with a ``{token}`` parameter not covered).
#: A prefix may have two segments ("admin/set-password"): the pattern joins them as written.
TOKEN_ROUTES = ("confirm", "unsubscribe", "preferences", "my-data", "admin/set-password")

#: Query keys whose values say nothing about a person and are kept in the log.
SAFE_QUERY_KEYS = frozenset({"lang", "done", "via"})

_TOKEN_PATH = re.compile("(/(?:" + "|".join(TOKEN_ROUTES) + r")/)[^/?#\s\"'<>]+")
_QUERY = re.compile(r"\?([^\s\"'<>#]+)")
_EMAIL = re.compile(r"[\w.+%-]+?(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_TOKEN_SHAPED = re.compile(
    # 24+ URL-safe characters of mixed case with a digit, or 32+ of mixed case: a link
    # token (32) or access token (43) outside a token path, without catching words
    # (snake_case names are one case; CamelCase names that long are rare).
    r"(?<![\w-])(?=[\w-]*[A-Z])(?=[\w-]*[a-z])"
    r"(?:(?=[\w-]*[0-9])[A-Za-z0-9_-]{24,}|[A-Za-z0-9_-]{32,})(?![\w-])"
)


def _redact_query(match: re.Match[str]) -> str:
    pairs = []
    for pair in match.group(1).split("&"):
        key, equals, _value = pair.partition("=")
        keep = not equals or key.lower() in SAFE_QUERY_KEYS
        pairs.append(pair if keep else f"{key}=[redacted]")
    return "?" + "&".join(pairs)


def redact(text: str) -> str:
    """``text`` with tokens, query values and email addresses replaced (see the module doc)."""
    text = _TOKEN_PATH.sub(r"\1[token]", text)
    text = _QUERY.sub(_redact_query, text)
    text = _EMAIL.sub("[email]", text)
    return _TOKEN_SHAPED.sub("[token]", text)


#: The attributes every record has; any other attribute came in through ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def _redact_value(value: Any) -> Any:
    """An ``extra=`` value as it may be written: numbers as they are, everything else redacted."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(key): _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(item) for item in value]
    # The JSON formatter would write str() of any other type: an address may be in it.
    return redact(str(value))


class RedactingFilter(logging.Filter):
    """Redacts each record before it is written: the formatted message, any traceback, and extra fields.

    The message is formatted here (``record.args`` cleared) because an argument of any
    type, an exception or a URL object, may carry an address in its ``str()``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        # uvicorn's ANSI-coloured copy of its message (a format string without the
        # arguments) would be one more unredacted field in a JSON line.
        record.__dict__.pop("color_message", None)
        for name in set(vars(record)) - _RECORD_ATTRIBUTES:
            setattr(record, name, _redact_value(getattr(record, name)))
        return True


class RedactedJsonFormatter(JsonFormatter):
    """One JSON object per record; a traceback it formats itself is redacted like the filter's.

    python-json-logger formats ``exc_info`` again instead of reusing the filter's
    redacted ``exc_text``, so the redaction is applied here too.
    """

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        # ISO 8601 in UTC with milliseconds: what log collectors parse without a pattern.
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def formatException(self, ei) -> str:  # noqa: N802 — logging.Formatter's name
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 — logging.Formatter's name
        return redact(super().formatStack(stack_info))


def configure_logging(level: str, /, *, log_format: Literal["text", "json"] = "text") -> None:
    """Every record of this process, ours and the libraries' (uvicorn's access log too), to stderr, redacted.

    ``log_format`` is the ``log.format`` setting: ``text`` lines for people, or ``json``,
    one object per line. uvicorn's own logging set-up is not used
    (``server.uvicorn_config`` passes ``log_config=None``): its handlers would write
    without the filter, and in another format.
    """
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"redact": {"()": RedactingFilter}},
            "formatters": {
                "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
                "json": {
                    "()": RedactedJsonFormatter,
                    "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                    "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
                    # Korean messages stay readable; the lines are UTF-8 like the text format.
                    "json_ensure_ascii": False,
                },
            },
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": log_format,
                    "filters": ["redact"],
                    "stream": "ext://sys.stderr",
                },
            },
            "root": {"level": level.upper(), "handlers": ["stderr"]},
            "loggers": {
                # uvicorn's loggers hand their records to the root handler (and its filter).
                "uvicorn": {"handlers": [], "propagate": True},
                "uvicorn.error": {"handlers": [], "propagate": True},
                "uvicorn.access": {"handlers": [], "propagate": True},
                # APScheduler narrates every wake-up at INFO; our own log says what ran.
                "apscheduler": {"level": "WARNING"},
                "alembic": {"level": "WARNING"},
                # aiosmtpd (the built-in outbox) logs every SMTP command at INFO.
                "mail.log": {"level": "WARNING"},
            },
        }
    )

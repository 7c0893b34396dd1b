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
text; :func:`configure_logging` installs it on every handler it creates.
"""

from __future__ import annotations

import logging
import logging.config
import re

#: Routes whose next path segment is a token (a new token route must be added here;
#: tests/web/test_headers.py fails for a route with a ``{token}`` parameter not covered).
TOKEN_ROUTES = ("confirm", "unsubscribe", "preferences", "my-data")

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


class RedactingFilter(logging.Filter):
    """Redacts each record before it is written: the formatted message and any traceback.

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
        return True


def configure_logging(level: str) -> None:
    """Every record of this process, ours and the libraries' (uvicorn's access log too), to stderr, redacted.

    uvicorn's own logging set-up is not used (``server.uvicorn_config`` passes
    ``log_config=None``): its handlers would write without the filter.
    """
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"redact": {"()": RedactingFilter}},
            "formatters": {
                "line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            },
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "line",
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

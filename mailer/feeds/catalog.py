"""The feed catalog: register, list, edit, enable, disable and remove the feeds the poll step reads.

What the command line and the staff admin share: every check on a feed's URL, name
and keyword lists lives here, so both refuse the same input with the same
message. Functions take plain values and return :class:`FeedView`; refusals are
``InvalidInputError`` naming the field, a missing feed is ``NotFoundError``. A feed
is named by its id (an int or a string of digits) or by its URL.

Validating a URL uses the SSRF policy only (``netguard``), never the HTTP client:
a literal address is refused here already, a host name is checked again at every
fetch, after DNS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mailer.errors import FeedError, InvalidInputError
from mailer.feeds.netguard import AddressPolicy, check_url, literal_address
from mailer.feeds.relevance import parse_keyword_list
from mailer.feeds.urlnorm import readable_url
from mailer.store import feeds as feed_store
from mailer.store.db import write_transaction
from mailer.unsafe_text import unsafe_problem

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from sqlalchemy import Connection

    from mailer.config import FeedSettings
    from mailer.context import AppContext

#: Longest feed name (the source name shown in the digest).
MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class FeedView:
    """A registered feed with its last poll outcome, as staff see it."""

    id: int
    name: str
    url: str
    enabled: bool
    include_keywords: tuple[str, ...]
    exclude_keywords: tuple[str, ...]
    last_status: str | None
    last_error: str | None
    consecutive_failures: int
    next_attempt_at: datetime | None
    last_polled_at: datetime | None
    #: How many stories the feed has delivered.
    stories: int
    #: What the last read warns about (garbled text; items or dates lost, issue 13).
    warnings: tuple[str, ...] = ()

    @property
    def display_url(self) -> str:
        """The URL for people to read: an IDNA host (xn--…) in its own script."""
        return readable_url(self.url)

    def as_json(self) -> dict[str, Any]:
        """The object ``feeds list --json`` prints for this feed."""

        def stamp(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "display_url": self.display_url,
            "enabled": self.enabled,
            "include_keywords": list(self.include_keywords),
            "exclude_keywords": list(self.exclude_keywords),
            "last_status": self.last_status,
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "next_attempt_at": stamp(self.next_attempt_at),
            "last_polled_at": stamp(self.last_polled_at),
            "stories": self.stories,
            "warnings": list(self.warnings),
        }


def check_feed_url(url: str, /, *, settings: FeedSettings) -> str:
    """The URL normalised (``urlnorm``), or InvalidInputError (field ``url``) if it can never be fetched."""
    try:
        url = check_url(url)
    except FeedError as exc:
        raise InvalidInputError(str(exc), field="url") from None
    host = urlsplit(url).hostname or ""
    address = literal_address(host)
    reason = AddressPolicy.from_settings(settings).refusal(address) if address else None
    if reason:
        raise InvalidInputError(
            f"refused: {host} is {reason} (set MAILER_FEEDS__ALLOW_PRIVATE=true to allow it)",
            field="url",
        )
    return url


def check_feed_name(name: str | None, /) -> str:
    """The name stripped ("" lets the poll take the feed's own title), or InvalidInputError."""
    name = (name or "").strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInputError(
            f"the name is longer than {MAX_NAME_LENGTH} characters", field="name"
        )
    # The name is the source shown in every digest and on staff terminals (issue 11).
    problem = unsafe_problem(name)
    if problem:
        raise InvalidInputError(f"the name {problem}", field="name")
    return name


def add_feed(
    ctx: AppContext,
    url: str,
    /,
    *,
    name: str | None = None,
    keywords: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
    actor: str = "cli",
    now: datetime | None = None,
) -> FeedView:
    """Register a feed; it is fetched at the next poll.

    ``keywords`` and ``exclude`` are lists of keywords, each item possibly
    comma-separated ("항암, ADC"), as staff type them.
    """
    url = check_feed_url(url, settings=ctx.settings.feeds)
    name = check_feed_name(name)
    with write_transaction(ctx.engine) as conn:
        row = feed_store.add_feed(
            conn,
            url,
            name=name,
            include_keywords=parse_keyword_list(_listed(keywords)),
            exclude_keywords=parse_keyword_list(_listed(exclude)),
            now=now or datetime.now(UTC),
            actor=actor,
        )
    return _view(row, stories=0)


def list_feeds(ctx: AppContext, /) -> list[FeedView]:
    """Every registered feed, oldest first, with its story count."""
    with ctx.engine.connect() as conn:
        rows = feed_store.list_feeds(conn)
        counts = feed_store.story_counts(conn)
    return [_view(row, stories=counts.get(row["id"], 0)) for row in rows]


def get_feed(ctx: AppContext, key: int | str, /) -> FeedView:
    """One feed by id or URL; NotFoundError if there is none."""
    with ctx.engine.connect() as conn:
        return _counted(conn, feed_store.get_feed(conn, _key(key)))


def edit_feed(
    ctx: AppContext,
    key: int | str,
    /,
    *,
    name: str | None = None,
    url: str | None = None,
    keywords: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
    actor: str = "cli",
    now: datetime | None = None,
) -> FeedView:
    """Change a feed's name, URL or keyword lists; what is None stays as it is.

    A new URL is checked like a new feed's, and starts afresh: no HTTP validators,
    no failure count, no backoff.
    """
    values: dict[str, Any] = {}
    if url is not None:
        values["url"] = check_feed_url(url, settings=ctx.settings.feeds)
    if name is not None:
        values["name"] = check_feed_name(name)
    if keywords is not None:
        values["include_keywords"] = parse_keyword_list(_listed(keywords))
    if exclude is not None:
        values["exclude_keywords"] = parse_keyword_list(_listed(exclude))
    with write_transaction(ctx.engine) as conn:
        row = feed_store.update_feed(
            conn, _key(key), now=now or datetime.now(UTC), actor=actor, **values
        )
        return _counted(conn, row)


def enable_feed(
    ctx: AppContext, key: int | str, /, *, actor: str = "cli", now: datetime | None = None
) -> FeedView:
    """Enable a feed again; this also clears its backoff, so the next poll tries it."""
    return _set_enabled(ctx, key, enabled=True, actor=actor, now=now)


def disable_feed(
    ctx: AppContext, key: int | str, /, *, actor: str = "cli", now: datetime | None = None
) -> FeedView:
    """Stop polling a feed without removing it."""
    return _set_enabled(ctx, key, enabled=False, actor=actor, now=now)


def remove_feed(
    ctx: AppContext, key: int | str, /, *, actor: str = "cli", now: datetime | None = None
) -> FeedView:
    """Remove a feed; the stories it delivered stay in the archive. Returns the feed as it was."""
    with write_transaction(ctx.engine) as conn:
        before = _counted(conn, feed_store.get_feed(conn, _key(key)))
        feed_store.remove_feed(conn, before.id, now=now or datetime.now(UTC), actor=actor)
    return before


def _set_enabled(
    ctx: AppContext, key: int | str, *, enabled: bool, actor: str, now: datetime | None
) -> FeedView:
    with write_transaction(ctx.engine) as conn:
        row = feed_store.set_enabled(
            conn, _key(key), enabled=enabled, now=now or datetime.now(UTC), actor=actor
        )
        return _counted(conn, row)


def _key(key: int | str) -> int | str:
    """A feed named by URL is looked up in its stored form, as staff may type it in another."""
    if isinstance(key, int) or key.strip().isdigit():
        return key
    try:
        return check_url(key)
    except FeedError:
        return key  # never stored in this form: the lookup answers "not found"


def _listed(values: Iterable[str] | str | None) -> list[str] | None:
    # One string is one comma-separated list, not a sequence of characters.
    if values is None or isinstance(values, str):
        return None if values is None else [values]
    return list(values)


def _counted(conn: Connection, row: dict[str, Any]) -> FeedView:
    return _view(row, stories=feed_store.story_counts(conn, [row["id"]]).get(row["id"], 0))


def _view(row: dict[str, Any], *, stories: int) -> FeedView:
    return FeedView(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        enabled=bool(row["enabled"]),
        include_keywords=tuple(row["include_keywords"] or ()),
        exclude_keywords=tuple(row["exclude_keywords"] or ()),
        last_status=row["last_status"],
        last_error=row["last_error"],
        consecutive_failures=row["consecutive_failures"] or 0,
        next_attempt_at=row["next_attempt_at"],
        last_polled_at=row["last_polled_at"],
        stories=stories,
        warnings=tuple(row.get("warnings") or ()),
    )

"""Feed rows: the feeds staff registered, their HTTP validators, poll outcome and backoff state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from mailer.errors import InvalidInputError, NotFoundError
from mailer.store.tables import audit_log, feeds, stories, story_sources

#: audit_log action recorded when ``mailer init`` seeds a feed from config/feeds.toml;
#: a feed seeded once is never seeded again, so a feed staff removed stays removed.
SEEDED_ACTION = "feed.seeded"


def add_feed(
    conn: Connection,
    url: str,
    /,
    *,
    name: str,
    include_keywords: list[str],
    exclude_keywords: list[str],
    now: datetime,
    actor: str = "cli",
) -> dict[str, Any]:
    """Insert a feed; InvalidInputError when that URL is registered already."""
    if conn.execute(select(feeds.c.id).where(feeds.c.url == url)).first():
        raise InvalidInputError(f"feed {url} is registered already", field="url")
    feed_id = conn.execute(
        insert(feeds).values(
            name=name,
            url=url,
            enabled=True,
            include_keywords=list(include_keywords),
            exclude_keywords=list(exclude_keywords),
            consecutive_failures=0,
            created_at=now,
        )
    ).inserted_primary_key[0]
    _audit(conn, actor=actor, action="feed.added", target=url, now=now)
    return get_feed(conn, feed_id)


def get_feed(conn: Connection, key: int | str, /) -> dict[str, Any]:
    """A feed by id (or a string of digits) or by URL; NotFoundError if there is none."""
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        condition = feeds.c.id == int(key)
    else:
        condition = feeds.c.url == key.strip()
    row = conn.execute(select(feeds).where(condition)).mappings().first()
    if row is None:
        raise NotFoundError("feed", key)
    return dict(row)


def list_feeds(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(feeds).order_by(feeds.c.id)).mappings()
    return [dict(row) for row in rows]


def story_counts(conn: Connection, feed_ids: Iterable[int] | None = None) -> dict[int, int]:
    """How many stories each feed (of ``feed_ids``, or every feed) has delivered."""
    query = select(story_sources.c.feed_id, func.count()).group_by(story_sources.c.feed_id)
    if feed_ids is not None:
        query = query.where(story_sources.c.feed_id.in_(list(feed_ids)))
    return {feed_id: count for feed_id, count in conn.execute(query)}


def remove_feed(conn: Connection, key: int | str, /, *, now: datetime, actor: str = "cli") -> dict:
    """Delete a feed; its stories stay (they may be in editions), its source links go."""
    feed = get_feed(conn, key)
    conn.execute(delete(story_sources).where(story_sources.c.feed_id == feed["id"]))
    conn.execute(delete(feeds).where(feeds.c.id == feed["id"]))
    _audit(conn, actor=actor, action="feed.removed", target=feed["url"], now=now)
    return feed


def set_enabled(
    conn: Connection, key: int | str, /, *, enabled: bool, now: datetime, actor: str = "cli"
) -> dict[str, Any]:
    """Enable or disable a feed; enabling also clears its backoff so the next poll tries it."""
    feed = get_feed(conn, key)
    values: dict[str, Any] = {"enabled": enabled}
    if enabled:
        values.update(consecutive_failures=0, next_attempt_at=None)
    conn.execute(update(feeds).where(feeds.c.id == feed["id"]).values(**values))
    _audit(
        conn,
        actor=actor,
        action="feed.enabled" if enabled else "feed.disabled",
        target=feed["url"],
        now=now,
    )
    return get_feed(conn, feed["id"])


def update_feed(
    conn: Connection,
    key: int | str,
    /,
    *,
    now: datetime,
    name: str | None = None,
    url: str | None = None,
    include_keywords: list[str] | None = None,
    exclude_keywords: list[str] | None = None,
    actor: str = "cli",
) -> dict[str, Any]:
    """Change what is given (None leaves a field as it is); InvalidInputError if the URL is taken."""
    feed = get_feed(conn, key)
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = name
    if include_keywords is not None:
        values["include_keywords"] = list(include_keywords)
    if exclude_keywords is not None:
        values["exclude_keywords"] = list(exclude_keywords)
    if url is not None and url != feed["url"]:
        taken = conn.execute(
            select(feeds.c.id).where(feeds.c.url == url, feeds.c.id != feed["id"])
        ).first()
        if taken:
            raise InvalidInputError(f"feed {url} is registered already", field="url")
        # The validators and the failure count belong to the old address.
        values.update(
            url=url, etag=None, last_modified=None, consecutive_failures=0, next_attempt_at=None
        )
    if not values:
        return feed
    conn.execute(update(feeds).where(feeds.c.id == feed["id"]).values(**values))
    _audit(conn, actor=actor, action="feed.edited", target=url or feed["url"], now=now)
    return get_feed(conn, feed["id"])


def feeds_to_poll(conn: Connection, *, now: datetime, only_due: bool) -> list[dict[str, Any]]:
    """Enabled feeds; with ``only_due``, those not waiting out a backoff or Retry-After."""
    condition = feeds.c.enabled.is_(True)
    if only_due:
        condition = and_(
            condition, or_(feeds.c.next_attempt_at.is_(None), feeds.c.next_attempt_at <= now)
        )
    rows = conn.execute(select(feeds).where(condition).order_by(feeds.c.id)).mappings()
    return [dict(row) for row in rows]


def count_waiting(conn: Connection, *, now: datetime) -> int:
    """Enabled feeds skipped by a due-only poll because they are backing off."""
    return conn.execute(
        select(func.count())
        .select_from(feeds)
        .where(feeds.c.enabled.is_(True), feeds.c.next_attempt_at > now)
    ).scalar_one()


def count_never_polled(conn: Connection) -> int:
    """Enabled feeds, when no feed was ever polled and no story is stored; else 0."""
    if conn.execute(select(stories.c.id).limit(1)).first() is not None:
        return 0
    polled = select(feeds.c.id).where(feeds.c.last_polled_at.is_not(None)).limit(1)
    if conn.execute(polled).first() is not None:
        return 0
    return conn.execute(
        select(func.count()).select_from(feeds).where(feeds.c.enabled.is_(True))
    ).scalar_one()


def outlet_names(conn: Connection) -> list[str]:
    """Every feed name, used to recognise "… - Outlet" suffixes in headlines."""
    return [name for (name,) in conn.execute(select(feeds.c.name)) if name]


def record_fetched(
    conn: Connection,
    feed_id: int,
    /,
    *,
    now: datetime,
    status: str,
    etag: str | None = None,
    last_modified: str | None = None,
    update_validators: bool = False,
    name: str | None = None,
    moved_to: str | None = None,
    warnings: Sequence[str] | None = None,
) -> str | None:
    """Record a successful poll (``ok`` or ``not_modified``); returns the new URL if it moved.

    ``warnings`` replace the feed's warnings (None keeps them: a 304 re-reads nothing).
    """
    values: dict[str, Any] = {
        "last_status": status,
        "last_error": None,
        "consecutive_failures": 0,
        "next_attempt_at": None,
        "last_polled_at": now,
    }
    if update_validators:
        values.update(etag=_clip(etag, 500), last_modified=_clip(last_modified, 100))
    if name:
        values["name"] = name[:200]
    if warnings is not None:
        values["warnings"] = list(warnings)
    moved = None
    if moved_to and len(moved_to) <= 2000:
        taken = conn.execute(
            select(feeds.c.id).where(feeds.c.url == moved_to, feeds.c.id != feed_id)
        ).first()
        if taken is None:
            values["url"] = moved_to
            moved = moved_to
    conn.execute(update(feeds).where(feeds.c.id == feed_id).values(**values))
    if moved:
        _audit(conn, actor="poll", action="feed.moved", target=moved, now=now)
    return moved


def record_failure(
    conn: Connection,
    feed_id: int,
    /,
    *,
    now: datetime,
    error: str,
    next_attempt_at: datetime | None,
    disable: bool = False,
) -> None:
    """Record a failed poll: count it, keep the reason for staff, schedule the retry."""
    values: dict[str, Any] = {
        "last_status": "error",
        "last_error": error[:2000],
        "consecutive_failures": feeds.c.consecutive_failures + 1,
        "next_attempt_at": next_attempt_at,
        "last_polled_at": now,
    }
    if disable:
        values["enabled"] = False
    conn.execute(update(feeds).where(feeds.c.id == feed_id).values(**values))
    if disable:
        url = conn.execute(select(feeds.c.url).where(feeds.c.id == feed_id)).scalar_one()
        _audit(conn, actor="poll", action="feed.disabled", target=url, now=now, detail=error)


def seed_feeds(
    conn: Connection, entries: Iterable[dict[str, Any]], /, *, now: datetime
) -> list[str]:
    """Insert configured feeds never seeded before; returns the URLs inserted."""
    seeded = {
        target
        for (target,) in conn.execute(
            select(audit_log.c.target).where(audit_log.c.action == SEEDED_ACTION)
        )
    }
    present = {url for (url,) in conn.execute(select(feeds.c.url))}
    inserted = []
    for entry in entries:
        url = entry["url"]
        if url in seeded:
            continue
        if url not in present:
            conn.execute(
                insert(feeds).values(
                    name=entry["name"],
                    url=url,
                    enabled=entry.get("enabled", True),
                    include_keywords=list(entry.get("keywords", [])),
                    exclude_keywords=list(entry.get("exclude", [])),
                    consecutive_failures=0,
                    created_at=now,
                )
            )
            present.add(url)
            inserted.append(url)
        _audit(conn, actor="init", action=SEEDED_ACTION, target=url, now=now)
    return inserted


def _audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    now: datetime,
    detail: str | None = None,
) -> None:
    conn.execute(
        insert(audit_log).values(
            at=now,
            actor=actor,
            action=action,
            target=target[:500],
            detail={"reason": detail} if detail else {},
        )
    )


def _clip(value: str | None, length: int) -> str | None:
    if value is None or len(value) > length:
        # A validator too long for its column cannot be sent back intact; drop it
        # rather than send a truncated one that never matches.
        return None
    return value

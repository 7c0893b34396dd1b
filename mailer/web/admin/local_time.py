"""Times on the admin's pages: in the configured zone, with its abbreviation ("2026-12-02 16:42 KST")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def local_time(zone: ZoneInfo) -> Callable[[datetime | None], str]:
    """A formatter for templates; a naive time (SQLite may hand one back) is UTC."""

    def show(moment: datetime | None) -> str:
        if moment is None:
            return ""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    return show

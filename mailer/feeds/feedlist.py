"""Read config/feeds.toml: the default feeds ``mailer init`` registers once."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from mailer.errors import ConfigError, FeedError
from mailer.feeds.netguard import check_url
from mailer.feeds.relevance import parse_keyword_list
from mailer.unsafe_text import unsafe_problem


def feeds_file(config_dir: Path) -> Path:
    return config_dir / "feeds.toml"


def load_feed_list(path: Path) -> list[dict[str, Any]]:
    """The ``[[feed]]`` entries of ``path``; ConfigError names the entry that is wrong."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    entries = data.get("feed", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: use [[feed]] tables for the feeds")
    feeds: list[dict[str, Any]] = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: feed {number}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} is not a table")
        unknown = set(entry) - {"name", "url", "keywords", "exclude", "enabled"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]}")
        name = str(entry.get("name", "")).strip()
        if not name or len(name) > 200:
            raise ConfigError(f"{where}: name must be 1 to 200 characters")
        problem = unsafe_problem(name)
        if problem:
            raise ConfigError(f"{where}: the name {problem}")
        try:
            url = check_url(str(entry.get("url", "")))
        except FeedError as exc:
            raise ConfigError(f"{where} ({name}): {exc}") from None
        feeds.append(
            {
                "name": name,
                "url": url,
                "keywords": parse_keyword_list(entry.get("keywords", [])),
                "exclude": parse_keyword_list(entry.get("exclude", [])),
                "enabled": bool(entry.get("enabled", True)),
            }
        )
    return feeds

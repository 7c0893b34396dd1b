"""Consent text versions: every wording ever shown to a subscriber is kept (개인정보보호법 제15조)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, select

from mailer.store.tables import consent_texts
from mailer.store.upsert import insert_unless_exists

#: Languages a consent text may be in; Korean is the binding wording, English its translation.
LANGUAGES = ("ko", "en")


def text_version(text: str) -> str:
    """A stable version label derived from the wording itself."""
    return "v-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def ensure_consent_text(
    conn: Connection, text: str, /, *, language: str = "ko"
) -> tuple[str, bool]:
    """Store this wording if new; returns (version, inserted)."""
    version = text_version(text)
    # Two first page views may store the same wording at once: the database picks
    # the winner, the other simply finds it there (no unique-key error).
    inserted = insert_unless_exists(
        conn,
        consent_texts,
        version=version,
        text=text,
        language=language,
        created_at=datetime.now(UTC),
    )
    return version, inserted


def latest_consent_text(conn: Connection, *, language: str = "ko") -> dict | None:
    """The newest wording in ``language`` (the one a signup page shows now)."""
    row = (
        conn.execute(
            select(consent_texts)
            .where(consent_texts.c.language == language)
            .order_by(consent_texts.c.created_at.desc(), consent_texts.c.id.desc())
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def consent_texts_by_version(conn: Connection, versions: list[str]) -> dict[str, dict]:
    """The wordings with these versions (for a subscriber's data export)."""
    if not versions:
        return {}
    rows = conn.execute(select(consent_texts).where(consent_texts.c.version.in_(versions)))
    return {row.version: dict(row._mapping) for row in rows}


#: Where config/consent.<lang>.txt quotes the retention setting (issue 15, item 9).
RETENTION_PLACEHOLDER = "{retention_days}"


def seed_consent_texts(conn: Connection, config_dir: Path, /, *, retention_days: str) -> list[str]:
    """Store the wording of config/consent.<lang>.txt when it is new; returns what was added.

    ``{retention_days}`` in the file becomes ``retention_days`` (the setting as text),
    so the consent text and the withdrawal mail quote one number; a changed setting
    is a changed wording, kept as a new version.
    """
    added = []
    for language in LANGUAGES:
        path = config_dir / f"consent.{language}.txt"
        if path.is_file():
            wording = path.read_text("utf-8").strip()
            wording = wording.replace(RETENTION_PLACEHOLDER, retention_days)
            version, inserted = ensure_consent_text(conn, wording, language=language)
            if inserted:
                added.append(f"{version} ({language})")
    return added

"""The consent ledger as a use case: the consent wording in force, and proof of consent per address.

What the ledger holds (개인정보보호법 제15·22조, 정보통신망법 제50조, GDPR Art. 7(1)):
every consent, confirmation, withdrawal, pause, notice and erasure, with time, IP,
user agent, source and the version of the consent text shown; every version of
that text is kept in ``consent_texts``. Events are written by the subscribers step's use
cases in the same transaction as the change they record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mailer.models import retention_days_text
from mailer.store import consent as ledger
from mailer.store.consent_texts import (
    LANGUAGES,
    consent_texts_by_version,
    ensure_consent_text,
    latest_consent_text,
    seed_consent_texts,
)
from mailer.store.db import write_transaction

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext


@dataclass(frozen=True, slots=True)
class ConsentText:
    version: str
    text: str
    language: str


def current_consent_text(ctx: AppContext, /, *, language: str = "ko") -> ConsentText | None:
    """The wording a signup page shows now; seeded from config/ if ``init`` has not stored one."""
    language = language if language in LANGUAGES else "ko"
    with ctx.engine.connect() as conn:
        row = latest_consent_text(conn, language=language)
    if row is None:
        with write_transaction(ctx.engine) as conn:
            seed_consent_texts(
                conn,
                ctx.settings.config_dir,
                retention_days=retention_days_text(ctx.settings.subscriptions),
            )
            row = latest_consent_text(conn, language=language) or latest_consent_text(conn)
    if row is None:
        return None
    return ConsentText(version=row["version"], text=row["text"], language=row["language"])


def register_consent_text(ctx: AppContext, text: str, /, *, language: str = "ko") -> str:
    """Store a new wording (it becomes current); earlier versions stay for proof."""
    with write_transaction(ctx.engine) as conn:
        version, _ = ensure_consent_text(conn, text.strip(), language=language)
    return version


def consent_history(ctx: AppContext, email: str, /) -> list[dict]:
    """Every ledger event of an address (also after erasure, by its hash), with the texts used."""
    with ctx.engine.connect() as conn:
        events = ledger.events_for(conn, email_hash=ctx.keys.address_key(email))
        versions = sorted({e["consent_version"] for e in events if e["consent_version"]})
        texts = consent_texts_by_version(conn, versions)
    for event in events:
        version = event["consent_version"]
        event["consent_text"] = texts[version]["text"] if version in texts else None
    return events


def export_consent_events(ctx: AppContext, /, *, since: datetime | None = None) -> Iterator[dict]:
    """The whole ledger in order, streamed (for an auditor or a backup)."""
    with ctx.engine.connect() as conn:
        yield from ledger.iter_events(conn, since=since)

"""Bulk import of subscribers from a CSV file, in batches, with a report of every row not imported.

A file is read as UTF-8 (with or without BOM) or CP949, what Korean spreadsheet
programs save. Rows arrive as (line number, {column: value}); ``email`` is required, ``name`` and
``organisation`` are optional, every other column becomes an attribute. An address
that was unsubscribed, bounced or erased (a suppression entry) is never re-added by an
import (정보통신망법 제50조②: stop on refusal); only a fresh signup can bring it back.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sqlalchemy.exc import DBAPIError

from mailer.errors import InvalidInputError
from mailer.models import (
    ConsentKind,
    NoticeKind,
    SubscriberStatus,
)
from mailer.store import consent as ledger
from mailer.store import notices as notice_store
from mailer.store import subscribers as store
from mailer.store.db import write_transaction
from mailer.store.suppressions import suppressed_among
from mailer.subscribers.validation import PROBLEM_TEXT, check_subscriber

if TYPE_CHECKING:  # the context is built by bootstrap, a rung above use cases
    from mailer.context import AppContext

#: Columns with a place of their own; every other column is kept as an attribute.
NAME_COLUMNS = {"name", "이름"}
ORGANISATION_COLUMNS = {"organisation", "organization", "소속"}
CONSENTED_AT_COLUMNS = {"consented_at"}
MAX_ATTRIBUTE_LENGTH = 1000


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: list[int] = field(default_factory=list)  # line numbers
    suppressed: list[int] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    confirmations_queued: int = 0

    def add(self, other: ImportReport) -> None:
        self.imported += other.imported
        self.duplicates.extend(other.duplicates)
        self.suppressed.extend(other.suppressed)
        self.invalid.extend(other.invalid)
        self.confirmations_queued += other.confirmations_queued

    def as_json(self) -> dict[str, object]:
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "invalid": [{"line": line, "reason": reason} for line, reason in self.invalid],
            "confirmations_queued": self.confirmations_queued,
        }


@dataclass
class _Candidate:
    line: int
    email: str
    name: str | None
    organisation: str | None
    attributes: dict[str, str]
    consented_at: datetime | None


def check_header(columns: list[str] | None) -> None:
    """Refuse a file without a header row naming an ``email`` column."""
    names = {(c or "").strip().lower() for c in columns or []}
    if "email" not in names:
        raise InvalidInputError(
            "the CSV needs a header row with an `email` column "
            f"(found: {', '.join(sorted(n for n in names if n)) or 'no header'})",
            field="file",
        )


def detect_encoding(path: Path, /) -> str:
    """UTF-8 (with or without BOM), else CP949 — what Korean spreadsheet programs save."""
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "cp949"
    return "utf-8-sig"


def import_csv_file(
    ctx: AppContext,
    path: Path,
    /,
    *,
    confirmed: bool,
    source: str | None = None,
    encoding: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import a CSV file with a header row (``email`` required); see :func:`import_rows`.

    ``encoding`` is "auto" (UTF-8 or CP949) or a Python codec name; ``source`` defaults
    to ``import:<file name>``. ``progress(bytes read, file size)`` is called after each
    batch. A file that is missing, not text in its encoding or not CSV raises
    InvalidInputError naming the place.
    """
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a readable file", field="file")
    chosen = detect_encoding(path) if encoding == "auto" else encoding
    size = path.stat().st_size or 1
    try:
        handle = path.open(encoding=chosen, newline="")
    except LookupError:
        raise InvalidInputError(f"unknown encoding {encoding!r}", field="encoding") from None
    with handle:
        reader = csv.DictReader(handle)
        if progress:
            progress(0, size)
        try:
            check_header(reader.fieldnames)
            return import_rows(
                ctx,
                _numbered_rows(reader),
                confirmed=confirmed,
                source=source or f"import:{path.name}",
                progress=(lambda: progress(_position(handle), size)) if progress else None,
            )
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"{path} is not {chosen} text ({exc.reason} at byte {exc.start}); "
                "try --encoding cp949 or --encoding utf-8",
                field="file",
            ) from None
        except csv.Error as exc:
            raise InvalidInputError(
                f"{path}: CSV error near line {reader.line_num}: {exc}", field="file"
            ) from None


def _numbered_rows(reader: csv.DictReader) -> Iterator[tuple[int, dict]]:
    # Report the line a record starts on (a quoted field may span lines).
    previous = reader.line_num
    for row in reader:
        yield previous + 1, row
        previous = reader.line_num


def _position(handle: TextIO) -> int:
    return handle.buffer.tell()  # type: ignore[attr-defined]


def import_rows(
    ctx: AppContext,
    rows: Iterable[tuple[int, dict[str | None, object]]],
    /,
    *,
    confirmed: bool,
    source: str,
    batch_size: int = 1000,
    now: datetime | None = None,
    progress: Callable[[], None] | None = None,
) -> ImportReport:
    """Import every row; each batch is one transaction, so an interruption keeps what was done.

    ``confirmed`` states that these people gave consent elsewhere: they become active
    at once. Otherwise each gets the double opt-in confirmation mail (queued).
    """
    now = now or datetime.now(UTC)
    zone = ctx.settings.zone
    report = ImportReport()
    seen: set[str] = set()
    batch: list[_Candidate] = []
    for line, row in rows:
        candidate = _candidate(line, row, report, zone=zone)
        if candidate is None:
            continue
        if candidate.email in seen:
            report.duplicates.append(line)
            continue
        seen.add(candidate.email)
        batch.append(candidate)
        if len(batch) >= batch_size:
            _store_safely(ctx, batch, report, confirmed=confirmed, source=source, now=now)
            batch = []
            if progress:
                progress()
    if batch:
        _store_safely(ctx, batch, report, confirmed=confirmed, source=source, now=now)
    if progress:
        progress()
    return report


def _candidate(line: int, row: dict, report: ImportReport, *, zone: tzinfo) -> _Candidate | None:
    if None in row:
        report.invalid.append((line, "more fields than the header has"))
        return None
    values = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
    name = next((values[c] for c in NAME_COLUMNS if values.get(c)), None)
    organisation = next((values[c] for c in ORGANISATION_COLUMNS if values.get(c)), None)
    # Invisible characters come along unseen from copy and paste: removed, not refused.
    cleaned, problems = check_subscriber(
        email=values.get("email", ""), name=name, organisation=organisation, strip_invisible=True
    )
    if cleaned is None:
        field_name, problem = next(iter(problems.items()))
        report.invalid.append((line, f"{field_name} {PROBLEM_TEXT[problem]}"))
        return None
    consented_at = None
    raw_date = next((values[c] for c in CONSENTED_AT_COLUMNS if values.get(c)), None)
    if raw_date:
        try:
            consented_at = datetime.fromisoformat(raw_date)
        except ValueError:
            report.invalid.append((line, f"consented_at {raw_date!r} is not an ISO date"))
            return None
        if consented_at.tzinfo is None:
            # A spreadsheet's date without a zone is the organisation's local time
            # (settings.timezone, Asia/Seoul), not UTC: the consent date is proof.
            consented_at = consented_at.replace(tzinfo=zone)
        consented_at = consented_at.astimezone(UTC)
    special = {"email"} | NAME_COLUMNS | ORGANISATION_COLUMNS | CONSENTED_AT_COLUMNS
    attributes = {
        key[:100]: value[:MAX_ATTRIBUTE_LENGTH]
        for key, value in values.items()
        if key and key not in special and value
    }
    return _Candidate(
        line, cleaned.email, cleaned.name, cleaned.organisation, attributes, consented_at
    )


def _store_safely(
    ctx: AppContext,
    batch: list[_Candidate],
    report: ImportReport,
    *,
    confirmed: bool,
    source: str,
    now: datetime,
) -> None:
    """Store a batch; if the database refuses it, store row by row and report the rows refused.

    The report only counts what a committed transaction stored.
    """
    try:
        report.add(_store_batch(ctx, batch, confirmed=confirmed, source=source, now=now))
        return
    except DBAPIError as exc:
        if len(batch) == 1:
            report.invalid.append((batch[0].line, f"not stored: {_database_reason(exc)}"))
            return
    for candidate in batch:
        _store_safely(ctx, [candidate], report, confirmed=confirmed, source=source, now=now)


def _database_reason(exc: DBAPIError) -> str:
    """The database's own message, first line only (no SQL, no parameters)."""
    text = str(exc.orig) if exc.orig is not None else type(exc).__name__
    return (text.strip().splitlines() or ["database error"])[0][:200]


def _store_batch(
    ctx: AppContext,
    batch: list[_Candidate],
    *,
    confirmed: bool,
    source: str,
    now: datetime,
) -> ImportReport:
    """One short write transaction for a batch whose rows were parsed, checked and built before it."""
    report = ImportReport()
    hashes = {c.email: ctx.keys.address_key(c.email) for c in batch}
    rows = {
        c.email: _subscriber_row(c, ctx, confirmed=confirmed, source=source, now=now) for c in batch
    }
    with write_transaction(ctx.engine) as conn:
        existing = store.existing_emails(conn, [c.email for c in batch])
        suppressed = suppressed_among(conn, list(hashes.values()))
        fresh: list[_Candidate] = []
        for candidate in batch:
            if candidate.email in existing:
                report.duplicates.append(candidate.line)
            elif hashes[candidate.email] in suppressed:
                report.suppressed.append(candidate.line)
            else:
                fresh.append(candidate)
        if not fresh:
            return report
        ids = store.insert_many(conn, [rows[c.email] for c in fresh])
        # An address a concurrent signup inserted since the look-up above is not ours:
        # it is left as that signup made it.
        for c in fresh:
            if c.email not in ids:
                report.duplicates.append(c.line)
        fresh = [c for c in fresh if c.email in ids]
        ledger.record_many(
            conn, _consent_events(fresh, ids, hashes, confirmed=confirmed, source=source, now=now)
        )
        if not confirmed:
            notice_store.enqueue_many(
                conn,
                [
                    {
                        "kind": NoticeKind.CONFIRM.value,
                        "to_address": c.email,
                        "subscriber_id": ids[c.email],
                        "now": now,
                    }
                    for c in fresh
                ],
            )
            report.confirmations_queued += len(fresh)
        report.imported += len(fresh)
    return report


def _subscriber_row(
    c: _Candidate, ctx: AppContext, /, *, confirmed: bool, source: str, now: datetime
) -> dict[str, object]:
    interval = timedelta(days=ctx.settings.subscriptions.reconfirm_days)
    status = SubscriberStatus.ACTIVE if confirmed else SubscriberStatus.PENDING
    consented = (c.consented_at or now) if confirmed else None
    return {
        "email": c.email,
        "name": c.name,
        "organisation": c.organisation,
        "status": status.value,
        **ctx.keys.new_link(),
        "attributes": c.attributes,
        "source": source[:100],
        "created_at": now,
        "confirmed_at": now if confirmed else None,
        "consented_at": consented,
        "reconfirm_due_at": consented + interval if consented else None,
        "confirm_sent_at": None if confirmed else now,
    }


def _consent_events(
    fresh: list[_Candidate],
    ids: dict[str, int],
    hashes: dict[str, str],
    /,
    *,
    confirmed: bool,
    source: str,
    now: datetime,
) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    for c in fresh:
        base = {
            "subscriber_id": ids[c.email],
            "email_hash": hashes[c.email],
            "at": now,
            "ip": None,
            "user_agent": None,
            "source": source[:100],
            "consent_version": None,
        }
        events.append({**base, "kind": ConsentKind.CONSENT.value, "detail": {"import": True}})
        if confirmed:
            events.append(
                {
                    **base,
                    "kind": ConsentKind.CONFIRMATION.value,
                    "detail": {"import": True, "consented_at": (c.consented_at or now).isoformat()},
                }
            )
    return events

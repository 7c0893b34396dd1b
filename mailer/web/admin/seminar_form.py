"""The seminar page's form: a block document as form fields, and the posted fields as a document.

Each input is named by its path in the document (``series.title``, ``contact.phone``,
``sender.phone``), so a use case's error for a path lands beside its field. A session
is a row ``sessions.N.*`` with its date and times apart (``date``, ``start``, ``end``);
a row left empty, or ticked for removal, is not part of the document. The sender's
fields are posted only by a form that may change them (``sender.present``); without
them the block's current sender is kept.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from mailer.web.forms import field

SERIES_FIELDS = (
    "title",
    "title_en",
    "host",
    "organiser",
    "venue",
    "venue_address",
    "summary",
    "summary_en",
    "apply",
    "apply_en",
    "apply_url",
)
CONTACT_FIELDS = ("organisation", "department", "phone", "email")
SENDER_FIELDS = ("name", "name_en", "postal_address", "phone", "email", "reason", "reason_en")
ROW_FIELDS = ("id", "number", "date", "start", "end", "title", "speakers", "venue")

#: Most rows a posted form may carry (a forged count cannot make the page loop for long).
MAX_ROWS = 60


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _row_of(session: dict[str, Any], past: frozenset[str]) -> dict[str, Any]:
    starts, ends = _text(session.get("starts")), _text(session.get("ends"))
    return {
        "id": _text(session.get("id")),
        "number": _text(session.get("number")),
        "date": starts[:10],
        "start": starts[11:16],
        "end": ends[11:16],
        "title": _text(session.get("title")),
        "speakers": _text(session.get("speakers")),
        "venue": _text(session.get("venue")),
        "remove": False,
        "past": session.get("id") in past,
    }


def empty_row() -> dict[str, Any]:
    return {**dict.fromkeys(ROW_FIELDS, ""), "remove": False, "past": False}


def values_of(document: dict[str, Any], past: frozenset[str]) -> dict[str, Any]:
    """The form's values for a stored document, with one empty row for a new session."""
    series, contact = document.get("series") or {}, document.get("contact") or {}
    sender = document.get("sender") or {}
    values: dict[str, Any] = {f"series.{name}": _text(series.get(name)) for name in SERIES_FIELDS}
    values |= {f"contact.{name}": _text(contact.get(name)) for name in CONTACT_FIELDS}
    values |= {f"sender.{name}": _text(sender.get(name)) for name in SENDER_FIELDS}
    values["sender.advertisement"] = bool(sender.get("advertisement"))
    values["note"] = ""
    rows = [_row_of(session, past) for session in document.get("sessions") or []]
    return {"fields": values, "rows": [*rows, empty_row()]}


def posted_values(form: FormData, current: dict[str, Any], past: frozenset[str]) -> dict[str, Any]:
    """The values as posted, to show again after an error (nothing typed is lost)."""
    values = values_of(current, past)["fields"]
    names = [f"series.{name}" for name in SERIES_FIELDS]
    names += [f"contact.{name}" for name in CONTACT_FIELDS]
    if "sender.present" in form:
        names += [f"sender.{name}" for name in SENDER_FIELDS]
        values["sender.advertisement"] = bool(field(form, "sender.advertisement"))
    values |= {name: field(form, name) for name in [*names, "note"]}
    rows = []
    for index in range(_row_count(form)):
        row = {name: field(form, f"sessions.{index}.{name}").strip() for name in ROW_FIELDS}
        row["remove"] = bool(field(form, f"sessions.{index}.remove"))
        row["past"] = row["id"] in past
        rows.append(row)
    return {"fields": values, "rows": rows}


def _row_count(form: FormData) -> int:
    count = field(form, "rows")
    return min(int(count), MAX_ROWS) if count.isdigit() else 0


def _moment(date: str, time: str) -> str | None:
    if not date and not time:
        return None
    return f"{date}T{time}" if time else date


def document_of(
    values: dict[str, Any], current: dict[str, Any]
) -> tuple[dict[str, Any], dict[int, int]]:
    """(the document the posted values make, document session index → form row index).

    Text fields go in as typed (the use case strips and checks them); what the form
    does not carry (the time zone, a sender it may not post) is the current block's.
    """
    fields = values["fields"]
    document: dict[str, Any] = {"timezone": current.get("timezone") or "Asia/Seoul"}
    series = {name: fields[f"series.{name}"] for name in SERIES_FIELDS}
    series["apply_url"] = series["apply_url"].strip() or None
    document["series"] = series
    document["contact"] = {name: fields[f"contact.{name}"] for name in CONTACT_FIELDS}
    sessions, rows = [], {}
    for index, row in enumerate(values["rows"]):
        if row["remove"] or not any(row[name] for name in ROW_FIELDS):
            continue
        rows[len(sessions)] = index
        number = row["number"]
        sessions.append(
            {
                "id": row["id"],
                "number": (int(number) if number.isdigit() else number) or None,
                "title": row["title"],
                "starts": _moment(row["date"], row["start"]),
                "ends": _moment(row["date"], row["end"]) if row["end"] else None,
                "venue": row["venue"] or None,
                "speakers": row["speakers"],
            }
        )
    document["sessions"] = sessions
    sender = dict(current.get("sender") or {})
    sender |= {name: fields[f"sender.{name}"] for name in SENDER_FIELDS}
    sender["advertisement"] = fields["sender.advertisement"]
    document["sender"] = sender
    return document, rows


def row_errors(problems: dict[str, str], rows: dict[int, int]) -> dict[str, str]:
    """The use case's problems keyed by form field: ``sessions.2.starts`` → row 3's date."""
    errors: dict[str, str] = {}
    for path, message in problems.items():
        parts = path.split(".")
        if parts[0] == "sessions" and len(parts) >= 2 and parts[1].isdigit():
            row = rows.get(int(parts[1]), int(parts[1]))
            name = parts[2] if len(parts) > 2 else "id"
            name = {"starts": "date", "ends": "end"}.get(name, name)
            errors[f"sessions.{row}.{name}"] = message
        else:
            errors[path] = message
    return errors

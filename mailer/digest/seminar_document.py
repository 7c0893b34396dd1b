"""The seminar block as a stored document: its rules, its canonical form, what changed, and the block in force.

A document is the whole block in one JSON value: ``timezone``, ``series``,
``contact`` and ``sessions`` exactly as config/seminar.toml has them (the same
pydantic rules), plus ``sender``, the compliance footer and the (광고) switch.
Errors name their field (``sessions.2.starts``) and say what is wrong in Korean and
English ("한국어 / English"). A session whose date has passed is valid: it is only
shown as past, and left out of the mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError, model_validator

from mailer.digest.seminar import (
    Seminar,
    _local,
    _SeminarFile,
    _Strict,
    load_seminar_of,
    seminar_of,
)
from mailer.errors import ConfigError, InvalidInputError
from mailer.models import Sender
from mailer.store import seminar_versions as store

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from mailer.config import Settings

#: The part of the document only ``change_compliance`` may change (the 광고 switch too).
SENDER_PART = "sender"


class _SenderPart(_Strict):
    name: str = Field(min_length=1)
    name_en: str = ""
    postal_address: str = Field(min_length=1)
    phone: str = Field(min_length=1, pattern=r"^[0-9+() -]{4,30}$")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    reason: str = Field(min_length=1)
    reason_en: str = ""
    advertisement: bool = False


class _BlockDocument(_SeminarFile):
    sender: _SenderPart

    @model_validator(mode="after")
    def _consistent_sessions(self) -> _BlockDocument:
        # Replaces the file's check: here each problem is reported at its own field.
        return self


class BlockInvalid(InvalidInputError):
    """A document that breaks the rules; ``problems`` maps each field's path to its message."""

    def __init__(self, problems: dict[str, str], /) -> None:
        first = next(iter(problems))
        super().__init__(f"{first}: {problems[first]}", field=first)
        self.problems = problems


#: pydantic's error types → "한국어 / English".
_MESSAGES = {
    "missing": "꼭 입력해야 합니다 / is required",
    "string_too_short": "비워 둘 수 없습니다 / must not be empty",
    "int_parsing": "숫자로 입력해 주세요 / must be a whole number",
    "greater_than_equal": "1 이상이어야 합니다 / must be 1 or more",
    "extra_forbidden": "알 수 없는 항목입니다 / is not a known field",
    "bool_parsing": "예 또는 아니요여야 합니다 / must be yes or no",
}
#: Pattern errors by the field they concern.
_PATTERNS = {
    "phone": "전화번호 형식이 아닙니다 (예: 070-7784-3185) / is not a phone number (e.g. 070-7784-3185)",
    "email": "이메일 주소 형식이 아닙니다 / is not an email address",
    "id": "영문자, 숫자, 하이픈(-)만 쓸 수 있습니다 / may hold only letters, digits and -",
}
_DATETIME = "날짜와 시간을 확인해 주세요 (예: 2027-03-26 14:00) / is not a date and time (e.g. 2027-03-26 14:00)"
_URL = "http:// 또는 https:// 로 시작하는 주소여야 합니다 / must be an http:// or https:// address"


def _message(error: dict) -> str:
    kind, name = error["type"], str(error["loc"][-1]) if error["loc"] else ""
    if kind == "string_pattern_mismatch":
        return _PATTERNS.get(name, "형식이 맞지 않습니다 / has the wrong form")
    if kind.startswith(("datetime", "date_")):
        return _DATETIME
    if name == "apply_url":
        return _URL
    if name == "timezone":
        return "알 수 없는 시간대입니다 / is not a known time zone"
    return _MESSAGES.get(kind, "값을 확인해 주세요 / is not valid")


def check_document(document: dict[str, Any], /) -> _BlockDocument:
    """The document checked by the file's rules; raises BlockInvalid naming every bad field."""
    try:
        parsed = _BlockDocument.model_validate(document)
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors(include_input=False):
            where = ".".join(str(part) for part in error["loc"]) or "document"
            problems.setdefault(where, _message(error))
        raise BlockInvalid(problems) from None
    problems = {}
    seen: set[str] = set()
    for index, session in enumerate(parsed.sessions):
        if session.id in seen:
            problems[f"sessions.{index}.id"] = (
                f"{session.id} 은(는) 이미 쓴 번호입니다 / {session.id} is used twice"
            )
        seen.add(session.id)
        zone = parsed.timezone
        if session.ends is not None and _local(session.ends, zone) <= _local(session.starts, zone):
            problems[f"sessions.{index}.ends"] = (
                "끝나는 시간이 시작 시간보다 늦어야 합니다 / must be after the start"
            )
    if problems:
        raise BlockInvalid(problems)
    return parsed


def _minutes(moment: datetime, zone: str) -> str:
    local = _local(moment, zone)
    return local.strftime("%Y-%m-%dT%H:%M" if not local.second else "%Y-%m-%dT%H:%M:%S")


def canonical(parsed: _BlockDocument, /) -> dict[str, Any]:
    """The checked document as stored: every field present, times local to the minute, sessions in order."""
    document = parsed.model_dump(mode="json")
    for item, session in zip(document["sessions"], parsed.sessions, strict=True):
        item["starts"] = _minutes(session.starts, parsed.timezone)
        item["ends"] = _minutes(session.ends, parsed.timezone) if session.ends else None
    # Earliest first, as the mail lists them (the local times sort as text).
    document["sessions"].sort(key=lambda item: item["starts"])
    return document


def normalised(document: dict[str, Any], /) -> dict[str, Any]:
    """The canonical form of a stored document, or the document itself if it breaks the rules."""
    try:
        return canonical(check_document(document))
    except BlockInvalid:
        return document


def flat(document: dict[str, Any], /) -> dict[str, Any]:
    """Field path → value, sessions by their id: ``sessions[2027-1].starts``."""
    fields: dict[str, Any] = {}
    for key, value in document.items():
        if key == "sessions" and isinstance(value, list):
            for index, session in enumerate(value):
                name = session.get("id") or index if isinstance(session, dict) else index
                for field, item in session.items() if isinstance(session, dict) else []:
                    fields[f"sessions[{name}].{field}"] = item
        elif isinstance(value, dict):
            for field, item in value.items():
                fields[f"{key}.{field}"] = item
        else:
            fields[key] = value
    return fields


def changed_fields(before: dict[str, Any], after: dict[str, Any], /) -> dict[str, list]:
    """``{path: [before, after]}`` for every field that differs (an empty string = absent)."""
    old, new = flat(before), flat(after)
    changes = {}
    for path in [*old, *(key for key in new if key not in old)]:
        was, now = old.get(path), new.get(path)
        if (was if was is not None else "") != (now if now is not None else ""):
            changes[path] = [was, now]
    return changes


@dataclass(frozen=True, slots=True)
class Block:
    """The seminar block in force: the seminar (None: no block) and the sender's footer."""

    seminar: Seminar | None
    sender: Sender
    #: The active version's number; None when the block comes from the files.
    number: int | None = None


def block_of(document: dict[str, Any], settings: Settings, /, *, number: int | None) -> Block:
    """The block of a stored document; a document that breaks the rules is a ConfigError."""
    try:
        parsed = check_document(document)
    except BlockInvalid as exc:
        problems = "; ".join(f"{path}: {text}" for path, text in exc.problems.items())
        raise ConfigError(f"seminar block version {number}: {problems}") from None
    sender = Sender.from_part(parsed.sender.model_dump(), settings.compliance)
    return Block(seminar=seminar_of(parsed), sender=sender, number=number)


def active_block(conn: Connection, settings: Settings, /) -> Block:
    """The active version's block; without one, the seminar file and ``[compliance]`` as before."""
    version = store.active_version(conn)
    if version is None:
        return Block(seminar=load_seminar_of(settings), sender=Sender.of(settings.compliance))
    return block_of(version["document"], settings, number=version["number"])

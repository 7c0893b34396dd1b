"""The seminar block: load config/seminar.toml, keep the sessions still to come, write their .ics.

The file is staff input: a mistake stops with a ConfigError naming the file and the
key. Session times are local times in the file's ``timezone`` (Asia/Seoul).
Calendar files follow RFC 5545: CRLF line ends, lines folded at 75 octets, TEXT
values escaped, a DTSTAMP and a stable UID per session, and a VTIMEZONE for the
TZID the times refer to (§3.6.5 requires one for every TZID used).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mailer.config import Settings, TimeZoneName
from mailer.errors import ConfigError, NotFoundError

_SESSION_ID = r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$"


@dataclass(frozen=True, slots=True)
class Contact:
    organisation: str
    department: str
    phone: str
    email: str

    @property
    def tel_url(self) -> str:
        """The phone as a global ``tel:`` URI (RFC 3966): 070-7784-3185 → tel:+82-70-7784-3185."""
        digits = re.sub(r"[^0-9+-]", "", self.phone)
        if digits.startswith("0"):
            digits = "+82-" + digits[1:]
        return f"tel:{digits}"


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    number: int | None
    title: str
    starts: datetime  # aware, in the seminar's zone
    ends: datetime | None
    venue: str
    #: Who speaks, as staff typed it ("김바이오 교수 (한국공학대학교)"); "" when not yet known.
    speakers: str = ""

    def is_over(self, now: datetime) -> bool:
        """A session disappears from the mail once it has ended (or started, without an end)."""
        return (self.ends or self.starts) <= now


@dataclass(frozen=True, slots=True)
class Seminar:
    title: str
    title_en: str
    host: str
    organiser: str
    venue: str
    venue_address: str
    summary: str
    summary_en: str
    apply: str
    apply_en: str
    apply_url: str | None
    contact: Contact
    sessions: tuple[Session, ...]
    timezone: str

    def upcoming(self, now: datetime) -> list[Session]:
        """Sessions not over at ``now``, earliest first."""
        return sorted((s for s in self.sessions if not s.is_over(now)), key=lambda s: s.starts)

    def session(self, session_id: str) -> Session:
        for session in self.sessions:
            if session.id == session_id:
                return session
        raise NotFoundError("seminar session", session_id)


# --- the file ------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _http_url(value: str | None) -> str | None:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value or None


class _SeriesFile(_Strict):
    title: str = Field(min_length=1)
    title_en: str = ""
    host: str = Field(min_length=1)
    organiser: str = ""
    venue: str = Field(min_length=1)
    venue_address: str = ""
    summary: str = ""
    summary_en: str = ""
    apply: str = Field(min_length=1)
    apply_en: str = ""
    apply_url: str | None = None

    _url = field_validator("apply_url")(_http_url)


class _ContactFile(_Strict):
    organisation: str = Field(min_length=1)
    department: str = ""
    phone: str = Field(min_length=1, pattern=r"^[0-9+() -]{4,30}$")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _SessionFile(_Strict):
    id: str = Field(pattern=_SESSION_ID)
    number: int | None = Field(default=None, ge=1)
    title: str = Field(min_length=1)
    starts: datetime
    ends: datetime | None = None
    venue: str | None = None
    speakers: str = ""


class _SeminarFile(_Strict):
    timezone: TimeZoneName = "Asia/Seoul"
    series: _SeriesFile
    contact: _ContactFile
    sessions: list[_SessionFile] = []

    @model_validator(mode="after")
    def _consistent_sessions(self) -> _SeminarFile:
        seen: set[str] = set()
        for index, session in enumerate(self.sessions):
            if session.id in seen:
                raise ValueError(f"sessions[{index}].id {session.id!r} is used twice")
            seen.add(session.id)
            if session.ends is not None and _local(session.ends, self.timezone) <= _local(
                session.starts, self.timezone
            ):
                raise ValueError(f"sessions[{index}] ({session.id}) ends before it starts")
        return self


def _local(moment: datetime, zone_name: str) -> datetime:
    """A TOML local date-time is in the file's zone; an offset date-time is converted to it."""
    zone = ZoneInfo(zone_name)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def load_seminar_of(settings: Settings, /) -> Seminar | None:
    """The seminar of ``digest.seminar`` in the settings; None when none is configured."""
    path = settings.digest.seminar_path(settings.config_dir)
    return load_seminar(path) if path is not None else None


def load_seminar(path: Path, /) -> Seminar:
    """Read and check the seminar file; raise ConfigError naming the file and the problem."""
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f'seminar file {path} does not exist (digest.seminar_file; "" for no block)'
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"seminar file {path}: {exc}") from None
    try:
        parsed = _SeminarFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False):
            where = ".".join(str(part) for part in error["loc"]) or "(file)"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "is not a known key"
            problems.append(f"{where}: {message}")
        raise ConfigError(f"seminar file {path}: " + "; ".join(problems)) from None
    return seminar_of(parsed)


def seminar_of(parsed: _SeminarFile, /) -> Seminar:
    """The seminar of a checked file (or of a stored block version, which has the same shape)."""
    series, contact = parsed.series, parsed.contact
    return Seminar(
        title=series.title,
        title_en=series.title_en,
        host=series.host,
        organiser=series.organiser,
        venue=series.venue,
        venue_address=series.venue_address,
        summary=series.summary,
        summary_en=series.summary_en,
        apply=series.apply,
        apply_en=series.apply_en,
        apply_url=series.apply_url,
        contact=Contact(contact.organisation, contact.department, contact.phone, contact.email),
        sessions=tuple(
            Session(
                id=item.id,
                number=item.number,
                title=item.title,
                starts=_local(item.starts, parsed.timezone),
                ends=_local(item.ends, parsed.timezone) if item.ends else None,
                venue=item.venue or series.venue,
                speakers=item.speakers,
            )
            for item in parsed.sessions
        ),
        timezone=parsed.timezone,
    )


# --- iCalendar (RFC 5545) ------------------------------------------------------------


def ics_text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and newlines."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 §3.1), never inside a UTF-8 character."""
    pieces: list[str] = []
    current, size = "", 0
    limit = 75
    for char in line:
        length = len(char.encode("utf-8"))
        if size + length > limit:
            pieces.append(current)
            current, size = " ", 1  # a continuation line starts with one space
        current += char
        size += length
    pieces.append(current)
    return "\r\n".join(pieces)


def _utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _local_stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def _offset(delta: timedelta | None) -> str:
    seconds = int((delta or timedelta()).total_seconds())
    sign = "+" if seconds >= 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}{minutes:02d}"


def _vtimezone(zone_name: str, at: datetime) -> list[str]:
    """A VTIMEZONE valid for a single event at ``at``: the zone's offset at that time.

    Asia/Seoul has kept +09:00 without daylight saving since 1988, so for the seminar
    this is the whole truth; for zones with DST it is exact for the one event.
    """
    offset = _offset(at.utcoffset())
    return [
        "BEGIN:VTIMEZONE",
        f"TZID:{zone_name}",
        "BEGIN:STANDARD",
        "DTSTART:19700101T000000",
        f"TZOFFSETFROM:{offset}",
        f"TZOFFSETTO:{offset}",
        f"TZNAME:{ics_text(at.tzname() or zone_name)}",
        "END:STANDARD",
        "END:VTIMEZONE",
    ]


def session_title(seminar: Seminar, session: Session) -> str:
    """``시흥시 K-바이오산업 육성전략 세미나 제2회: 주제``."""
    number = f" 제{session.number}회" if session.number else ""
    return f"{seminar.title}{number}: {session.title}"


def session_ics(
    seminar: Seminar, session: Session, /, *, dtstamp: datetime, uid_domain: str
) -> str:
    """A calendar with one event for ``session``; str with CRLF line ends, ready to serve."""
    contact = seminar.contact
    host = f"주최 {seminar.host}" + (f" · 주관 {seminar.organiser}" if seminar.organiser else "")
    description = "\n".join(
        line
        for line in [
            host,
            seminar.summary,
            f"참가 신청: {seminar.apply}",
            seminar.apply_url or "",
            f"문의: {contact.organisation} {contact.department} {contact.phone} {contact.email}",
        ]
        if line
    )
    location = session.venue
    if seminar.venue_address and session.venue == seminar.venue:
        location = f"{session.venue}, {seminar.venue_address}"
    event = [
        "BEGIN:VEVENT",
        f"UID:seminar-{session.id}@{uid_domain}",
        f"DTSTAMP:{_utc_stamp(dtstamp)}",
        f"DTSTART;TZID={seminar.timezone}:{_local_stamp(session.starts)}",
    ]
    if session.ends is not None:
        event.append(f"DTEND;TZID={seminar.timezone}:{_local_stamp(session.ends)}")
    event += [
        f"SUMMARY:{ics_text(session_title(seminar, session))}",
        f"LOCATION:{ics_text(location)}",
        f"DESCRIPTION:{ics_text(description)}",
    ]
    if seminar.apply_url:
        event.append(f"URL:{seminar.apply_url}")
    event.append("END:VEVENT")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//mailer//seminar calendar//KO",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        *_vtimezone(seminar.timezone, session.starts),
        *event,
        "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines)

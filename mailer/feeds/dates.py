"""Read the date strings feeds write into UTC datetimes, or say why one cannot be read.

Our own reader rather than feedparser's ``*_parsed`` tuples (or a handler given to
``feedparser.registerDateHandler``), because a handler must return a UTC 9-tuple:
it cannot say whether the string named a zone, so a zone-less date cannot be read in
the zone the site writes in, and the configured zone differs per poll. feedparser's
own tuples are also wrong for the styles Korean CMSs write: its W3C-DTF handler runs
before its Korean ones and reads ``2004년 05월 28일 01:31:15`` and ``2004.05.28 01:31``
as 1 December 2004, ``2004-05-25 오후 11:23:17`` as midnight; and a tuple such as
year 10000 (from ``9999-12-31T23:59:59-99:99``) is no datetime at all. Its tuple is
still the last resort for rarer styles it knows (Greek, Hungarian, Perforce …).

Read here, in this order:

- numeric dates: ``2004-05-25 오후 11:23:17``, ``2004년 05월 28일 01:31:15``,
  ``2004.05.28 01:31``, ``2004-05-28 01:31:15``, ISO 8601/W3C-DTF
  (``2021-09-06T12:00:00+09:00``, ``…Z``, fractions), a date alone;
- RFC 822/2822 (``Mon, 06 Sep 2021 12:00:00 GMT``, two-digit years);
- asctime and the Twitter form (``Sun Jul 15 01:16:00 +0000 2012``).

A zone is an offset (``+0900``, ``+09:00``, ``GMT+9``, ``UTC+09:00``), a name in
:data:`ZONE_NAMES` (``KST``, ``EST`` …) or an IANA name (``Asia/Seoul``, ``Etc/GMT``,
``Etc/GMT-9``, where the sign is POSIX's: Etc/GMT-9 is nine hours *ahead*). A date
with no zone is wall time: Asia/Seoul when it is written in Korean (오전/오후,
년월일), else the configured zone (``MAILER_TIMEZONE``, Asia/Seoul by default).
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Where Korean-written dates (오전/오후, 년월일) are wall time, whatever the configured zone.
SEOUL = ZoneInfo("Asia/Seoul")

#: Zone abbreviations read as fixed offsets: RFC 822's (§5.1) and those Korean,
#: Japanese and other Asian and European feeds use. Ambiguous ones (IST, …) are left
#: out; such a date is reported rather than guessed.
ZONE_NAMES: dict[str, timedelta] = {
    name: timedelta(hours=hours)
    for name, hours in {
        "UT": 0,
        "UTC": 0,
        "GMT": 0,
        "Z": 0,
        "EST": -5,
        "EDT": -4,
        "CST": -6,
        "CDT": -5,
        "MST": -7,
        "MDT": -6,
        "PST": -8,
        "PDT": -7,
        "KST": 9,
        "JST": 9,
        "HKT": 8,
        "SGT": 8,
        "WET": 0,
        "WEST": 1,
        "BST": 1,
        "CET": 1,
        "CEST": 2,
        "EET": 2,
        "EEST": 3,
        "AEST": 10,
        "AEDT": 11,
    }.items()
}

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_WEEKDAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?"
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_TIME = r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?"
_HALF = r"(오전|오후|am|pm|a\.m\.|p\.m\.)"

#: 2004-05-25 오후 11:23:17 · 2004년 05월 28일 01:31:15 · 2004.05.28 01:31 · ISO 8601.
_NUMERIC = re.compile(
    r"(\d{4})\s*(?:[-./]|년)\s*(\d{1,2})\s*(?:[-./]|월)\s*(\d{1,2})\s*(?:일|\.)?"
    r"(?:\s*\((?:[월화수목금토일]|[a-z]{3})\)|\s*[월화수목금토일]요일)?"
    rf"(?:(?:\s*|T){_HALF}?\s*{_TIME}(?:\s*{_HALF})?)?"
    r"\s*(.*)",
    re.I,
)
#: Mon, 06 Sep 2021 12:00:00 GMT (RFC 822/2822).
_RFC822 = re.compile(
    rf"(?:{_WEEKDAY}\s*)?(\d{{1,2}})[\s-]+{_MONTH}[\s-]+(\d{{4}}|\d{{2}})(?!\d)(?:\s+{_TIME})?\s*(.*)",
    re.I,
)
#: Sun Jul 15 01:16:00 +0000 2012 (Twitter) and Sun Jul 15 01:16:00 2012 (asctime).
_ASCTIME = re.compile(
    rf"(?:{_WEEKDAY}\s+)?{_MONTH}\s+(\d{{1,2}})\s+{_TIME}\s+(?:(\S+)\s+)?(\d{{4}})",
    re.I,
)
#: +0900, +09:00, +09, optionally after GMT/UTC/UT (GMT+9 means nine hours ahead).
_OFFSET = re.compile(r"(?:(?:gmt|utc|ut)\s*)?([+-])(\d{1,2})(?::?(\d{2}))?", re.I)
#: "(KST)" after an offset, "(Korea Standard Time)": a comment, not a second zone.
_COMMENT = re.compile(r"\s*\([^)]*\)\s*$")
_HANGUL_DATE = re.compile(r"[년월일]|오전|오후|요일")


class UnreadableDate(ValueError):
    """A date string that names no time this program can store (the message says why)."""


def read_date(text: str, /, *, zone: tzinfo, parsed: tuple | None = None) -> datetime:
    """``text`` as an aware UTC datetime; UnreadableDate when it cannot be read or represented.

    ``zone`` is where a zone-less date is wall time (unless it is written in Korean);
    ``parsed`` is feedparser's 9-tuple for the same string, used (as UTC) only when
    the string is in none of the styles read here.
    """
    text = " ".join(text.split())
    if not text:
        raise UnreadableDate("the date is empty")
    match = _NUMERIC.fullmatch(text)
    if match:
        year, month, day, half1, hour, minute, second, half2, rest = match.groups()
        hour = _twelve_hour(hour, half1 or half2)
        wall_zone = SEOUL if _HANGUL_DATE.search(text) else zone
        return _build(year, month, day, hour, minute, second, rest, text, wall_zone)
    match = _RFC822.fullmatch(text)
    if match:
        day, month, year, hour, minute, second, rest = match.groups()
        month = _MONTHS[month[:3].lower()]
        return _build(_full_year(year), month, day, hour, minute, second, rest, text, zone)
    match = _ASCTIME.fullmatch(text)
    if match:
        month, day, hour, minute, second, zone_text, year = match.groups()
        month = _MONTHS[month[:3].lower()]
        return _build(year, month, day, hour, minute, second, zone_text, text, zone)
    if parsed:
        try:
            return datetime.fromtimestamp(calendar.timegm(tuple(parsed)[:9]), UTC)
        except (OverflowError, ValueError, OSError, TypeError):
            raise UnreadableDate(f"{_quoted(text)} is no date that can be stored") from None
    raise UnreadableDate(f"{_quoted(text)} is in no date format this program reads")


def _build(year, month, day, hour, minute, second, zone_text, text, wall_zone) -> datetime:
    try:
        wall = datetime(int(year), int(month), int(day))
        if hour is not None:
            hours, minutes, seconds = int(hour), int(minute), min(int(second or 0), 59)
            if hours == 24 and minutes == 0 and seconds == 0:  # ISO 8601's end of day
                wall += timedelta(days=1)
            else:
                wall = wall.replace(hour=hours, minute=minutes, second=seconds)
    except ValueError as exc:
        raise UnreadableDate(f"{_quoted(text)} is no real date ({exc})") from None
    written_zone = _zone(zone_text or "", text)
    try:
        return wall.replace(tzinfo=written_zone or wall_zone).astimezone(UTC)
    except (OverflowError, ValueError):
        raise UnreadableDate(
            f"{_quoted(text)} is out of the range of dates that can be stored"
        ) from None


def _zone(zone_text: str, text: str) -> tzinfo | None:
    """The zone written after a date and time (None when none is)."""
    zone_text = _COMMENT.sub("", zone_text).strip()
    if not zone_text:
        return None
    upper = zone_text.upper()
    if upper in ZONE_NAMES:
        return timezone(ZONE_NAMES[upper])
    match = _OFFSET.fullmatch(zone_text)
    if match:
        sign, hours, minutes = match.groups()
        hours, minutes = int(hours), int(minutes or 0)
        if hours > 18 or minutes >= 60:  # ±18:00 is the widest offset any standard allows
            raise UnreadableDate(f"{_quoted(text)} has an impossible UTC offset {zone_text}")
        offset = timedelta(hours=hours, minutes=minutes)
        return timezone(-offset if sign == "-" else offset)
    if "/" in zone_text:
        try:
            return ZoneInfo(zone_text)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise UnreadableDate(f"{_quoted(text)} names a time zone this program does not know")


def _twelve_hour(hour: str | None, half: str | None) -> str | None:
    """A 12-hour clock read as 24-hour: 오전 12:05 is 00:05, 오후 12:05 is 12:05, 오후 1 is 13."""
    if hour is None or half is None:
        return hour
    value = int(hour)
    afternoon = half.lower().replace(".", "") in ("오후", "pm")
    if afternoon and value < 12:
        value += 12
    elif not afternoon and value == 12:
        value = 0
    return str(value)


def _full_year(year: str) -> int:
    """RFC 2822 §4.3: a two-digit year below 50 is 20xx, else 19xx."""
    value = int(year)
    if len(year) == 2:
        value += 2000 if value < 50 else 1900
    return value


def _quoted(text: str) -> str:
    return '"' + (text if len(text) <= 60 else text[:59] + "…") + '"'

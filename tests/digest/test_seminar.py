"""The seminar block: the shipped file, past sessions hidden, valid RFC 5545 calendar files, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest

from mailer.config import PROJECT_ROOT
from mailer.digest.seminar import fold, ics_text, load_seminar, session_ics
from mailer.errors import ConfigError, NotFoundError

SEOUL = ZoneInfo("Asia/Seoul")
SHIPPED = PROJECT_ROOT / "config" / "seminar.toml"

MINIMAL = """
[series]
title = "시흥시 K-바이오산업 육성전략 세미나"
host = "시흥산업진흥원"
organiser = "한국공학대학교"
venue = "시흥비즈니스센터"
apply = "문의처로 신청"

[contact]
organisation = "(재)시흥산업진흥원"
department = "미래전략산업실"
phone = "070-7784-3185"
email = "bio@example.or.kr"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "seminar.toml"
    path.write_text(text, "utf-8")
    return path


def test_the_shipped_file_carries_the_series_from_the_agency_article():
    seminar = load_seminar(SHIPPED)
    assert seminar.title == "시흥시 K-바이오산업 육성전략 세미나"
    assert (seminar.host, seminar.organiser, seminar.venue) == (
        "시흥산업진흥원",
        "한국공학대학교",
        "시흥비즈니스센터",
    )
    assert seminar.contact.department == "미래전략산업실"
    assert seminar.contact.phone == "070-7784-3185"
    assert "@" in seminar.contact.email
    assert seminar.contact.tel_url == "tel:+82-70-7784-3185"
    assert len(seminar.sessions) == 4
    # Four sessions in the first half of the year, in Seoul time.
    assert all(s.starts.month <= 6 and s.starts.tzinfo == SEOUL for s in seminar.sessions)
    assert seminar.session("2027-2").number == 2
    with pytest.raises(NotFoundError):
        seminar.session("1999-1")


def test_sessions_in_the_past_disappear_by_themselves():
    seminar = load_seminar(SHIPPED)
    first, second = seminar.sessions[0], seminar.sessions[1]
    assert [s.id for s in seminar.upcoming(first.starts - timedelta(days=30))] == [
        "2027-1",
        "2027-2",
        "2027-3",
        "2027-4",
    ]
    # During the first session it is still shown; once it has ended it is gone.
    assert seminar.upcoming(first.starts + timedelta(minutes=30))[0].id == "2027-1"
    assert seminar.upcoming(first.ends)[0].id == "2027-2"
    assert seminar.upcoming(second.ends + timedelta(days=400)) == []


def test_local_times_are_seoul_and_offset_times_are_converted(tmp_path):
    path = write(
        tmp_path,
        MINIMAL
        + """
[[sessions]]
id = "a"
title = "로컬"
starts = 2027-03-26T14:00:00
[[sessions]]
id = "b"
title = "UTC"
starts = 2027-04-23T05:00:00Z
ends = 2027-04-23T08:00:00Z
""",
    )
    a, b = load_seminar(path).sessions
    assert a.starts == datetime(2027, 3, 26, 14, 0, tzinfo=SEOUL)
    assert a.ends is None
    assert b.starts == datetime(2027, 4, 23, 14, 0, tzinfo=SEOUL)
    assert b.starts.tzinfo == SEOUL
    assert b.venue == "시흥비즈니스센터"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[sessions]]\nid = "x"\ntitle = "t"\nstarts = 2027-01-01T10:00:00\n' * 2, "used twice"),
        (
            '[[sessions]]\nid = "x"\ntitle = "t"\nstarts = 2027-01-01T10:00:00\nends = 2027-01-01T09:00:00\n',
            "ends before it starts",
        ),
        (
            '[[sessions]]\nid = "../etc"\ntitle = "t"\nstarts = 2027-01-01T10:00:00\n',
            "sessions.0.id",
        ),
        ('[[sessions]]\nid = "x"\ntitle = "t"\nstarts = "next tuesday"\n', "sessions.0.starts"),
        ('[[sessions]]\nid = "x"\ntitle = "t"\nstart = 2027-01-01T10:00:00\n', "not a known key"),
    ],
)
def test_a_mistake_in_the_file_names_the_file_and_the_key(tmp_path, extra, message):
    path = write(tmp_path, MINIMAL + extra)
    with pytest.raises(ConfigError) as caught:
        load_seminar(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_a_broken_or_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_seminar(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="seminar file .*seminar.toml"):
        load_seminar(write(tmp_path, "[series\ntitle = 1"))
    with pytest.raises(ConfigError, match="contact.email"):
        load_seminar(write(tmp_path, MINIMAL.replace("bio@example.or.kr", "not an address")))
    bad_zone = "timezone = 'Mars/Olympus'\n" + MINIMAL
    with pytest.raises(ConfigError, match="timezone: .*IANA"):
        load_seminar(write(tmp_path, bad_zone))


def test_ics_text_escaping_and_folding():
    assert ics_text('a;b,c\\d\ne\r\nf"') == 'a\\;b\\,c\\\\d\\ne\\nf"'
    line = "DESCRIPTION:" + "시흥시 K-바이오산업 육성전략 세미나, " * 6
    folded = fold(line)
    pieces = folded.split("\r\n")
    assert len(pieces) > 3
    assert all(len(piece.encode("utf-8")) <= 75 for piece in pieces)
    assert all(piece.startswith(" ") for piece in pieces[1:])
    # Unfolding (RFC 5545 §3.1: remove CRLF followed by one space) gives the line back,
    # and no UTF-8 character was cut in two.
    assert folded.replace("\r\n ", "") == line
    for piece in pieces:
        piece.encode("utf-8").decode("utf-8")


def _parse(body: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(body)


def test_session_ics_is_valid_rfc5545_in_seoul_time(tmp_path):
    path = write(
        tmp_path,
        MINIMAL.replace('apply = "문의처로 신청"', 'apply = "전화, 이메일; 또는 방문\\n신청"')
        + """
[[sessions]]
id = "2027-2"
number = 2
title = "송도 바이오클러스터 사례로 본 시흥시 바이오산업 육성 방향, 그리고 배곧; 서울대 시흥캠퍼스와의 협력"
starts = 2027-04-23T14:00:00
ends = 2027-04-23T17:00:00
""",
    )
    seminar = load_seminar(path)
    stamp = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    body = session_ics(
        seminar, seminar.session("2027-2"), dtstamp=stamp, uid_domain="news.example.or.kr"
    )
    raw = body.encode("utf-8")
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in lines), "a line is longer than 75 octets"
    assert b"\n" not in raw.replace(b"\r\n", b"")  # only CRLF line ends
    assert any(line.startswith(b" ") for line in lines)  # the long title was folded

    calendar = _parse(body)
    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"]
    (timezone,) = calendar.walk("VTIMEZONE")
    assert timezone["TZID"] == "Asia/Seoul"
    (event,) = calendar.walk("VEVENT")
    assert event["UID"] == "seminar-2027-2@news.example.or.kr"
    assert event.decoded("DTSTAMP") == stamp
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert start.astimezone(UTC) == datetime(2027, 4, 23, 5, 0, tzinfo=UTC)
    assert end - start == timedelta(hours=3)
    assert event["DTSTART"].params["TZID"] == "Asia/Seoul"
    summary = str(event["SUMMARY"])
    assert summary.startswith("시흥시 K-바이오산업 육성전략 세미나 제2회: 송도")
    assert "그리고 배곧; 서울대" in summary  # escaped ; and , come back intact
    assert str(event["LOCATION"]) == "시흥비즈니스센터"
    description = str(event["DESCRIPTION"])
    assert "전화, 이메일; 또는 방문\n신청" in description
    assert "070-7784-3185" in description and "미래전략산업실" in description


def test_every_shipped_session_has_a_valid_calendar_file():
    seminar = load_seminar(SHIPPED)
    for session in seminar.sessions:
        body = session_ics(seminar, session, dtstamp=datetime.now(UTC), uid_domain="example.or.kr")
        (event,) = _parse(body).walk("VEVENT")
        assert event.decoded("DTSTART") == session.starts
        assert "시흥비즈니스센터" in str(event["LOCATION"])
        assert all(len(line) <= 75 for line in body.encode().split(b"\r\n"))

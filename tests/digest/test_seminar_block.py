"""The seminar and sender block in the database (issue 12 item 7): seeded once by init, saved as versions, checked, guarded, rolled back, audited — and used by the preview and the calendar files."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from mailer import delivery, staff
from mailer import subscribers as subscriptions
from mailer.digest import (
    BlockInvalid,
    block_versions,
    current_block,
    preview_edition,
    rollback_block,
    save_block,
    seminar_calendar,
)
from mailer.seed import initialise

SCHEDULED = datetime(2027, 3, 1, 0, 0, tzinfo=UTC)  # 09:00 in Seoul, before every session


@dataclass(frozen=True)
class Account:
    email: str
    role: str


ADMIN = Account("admin@example.kr", "admin")
EDITOR = Account("editor@example.kr", "editor")


def seeded(context) -> dict:
    initialise(context)
    return copy.deepcopy(current_block(context).document)


def test_init_seeds_version_1_from_the_files_once(context):
    report = initialise(context)
    assert "seminar block version 1" in report.seeded
    again = initialise(context)
    assert not any("seminar" in item for item in again.seeded)
    [version] = block_versions(context)
    assert (version.number, version.author, version.active) == (1, "mailer init", True)
    block = current_block(context)
    document = block.document
    assert document["series"]["title"] == "시흥시 K-바이오산업 육성전략 세미나"
    assert document["contact"]["department"] == "미래전략산업실"
    assert document["contact"]["phone"] == "070-7784-3185"
    assert [s["starts"] for s in document["sessions"]][0] == "2027-03-26T14:00"
    compliance = context.settings.compliance
    assert document["sender"]["phone"] == compliance.phone
    assert document["sender"]["advertisement"] is compliance.advertisement


def test_without_init_the_files_are_the_block(context):
    block = current_block(context)
    assert block.number is None and block_versions(context) == []
    assert len(block.document["sessions"]) == 4
    calendar = seminar_calendar(context, "2027-1")
    assert "DTSTART;TZID=Asia/Seoul:20270326T140000" in calendar.text


def test_a_save_is_a_new_active_version_with_an_audited_change(context):
    document = seeded(context)
    document["sessions"][0]["starts"] = "2027-03-31T14:00"
    document["sessions"][0]["ends"] = "2027-03-31T17:00"
    document["sessions"][0]["speakers"] = "김바이오 교수"
    number = save_block(context, EDITOR, document, note="1회 날짜 변경", client="192.0.2.7")
    assert number == 2
    versions = block_versions(context)
    assert [(v.number, v.active, v.note) for v in versions] == [
        (2, True, "1회 날짜 변경"),
        (1, False, "seminar.toml · [compliance]"),
    ]
    [entry] = staff.recent_audit(context, prefix="seminar.")
    assert (entry["action"], entry["actor"], entry["client_address"], entry["target"]) == (
        "seminar.save",
        "editor@example.kr",
        "192.0.2.7",
        "version 2",
    )
    assert entry["detail"]["before"] == {
        "sessions[2027-1].starts": "2027-03-26T14:00",
        "sessions[2027-1].ends": "2027-03-26T17:00",
        "sessions[2027-1].speakers": "",
    }
    assert entry["detail"]["after"]["sessions[2027-1].starts"] == "2027-03-31T14:00"
    assert entry["detail"]["note"] == "1회 날짜 변경"
    calendar = seminar_calendar(context, "2027-1")
    assert "DTSTART;TZID=Asia/Seoul:20270331T140000" in calendar.text


def test_mistakes_are_named_by_field_in_korean_and_english_and_nothing_is_stored(context):
    document = seeded(context)
    document["series"]["title"] = "  "
    document["contact"]["phone"] = "전화 주세요"
    document["sender"]["email"] = "not-an-address"
    document["series"]["apply_url"] = "javascript:alert(1)"
    document["sessions"][1]["starts"] = "2027-02-30T14:00"
    document["sessions"][2]["id"] = "2027-1"
    with pytest.raises(BlockInvalid) as caught:
        save_block(context, ADMIN, document)
    problems = caught.value.problems
    assert problems["series.title"] == "비워 둘 수 없습니다 / must not be empty"
    assert problems["contact.phone"].startswith("전화번호 형식이 아닙니다")
    assert problems["sender.email"] == "이메일 주소 형식이 아닙니다 / is not an email address"
    assert problems["series.apply_url"].startswith("http:// 또는 https://")
    assert problems["sessions.1.starts"].startswith("날짜와 시간을 확인해 주세요")
    assert all(" / " in text for text in problems.values())
    # The located session checks run once the fields themselves are right.
    document = seeded(context)
    document["sessions"][2]["id"] = "2027-1"
    document["sessions"][3]["ends"] = "2027-06-25T13:00"
    with pytest.raises(BlockInvalid) as caught:
        save_block(context, ADMIN, document)
    assert set(caught.value.problems) == {"sessions.2.id", "sessions.3.ends"}
    assert [v.number for v in block_versions(context)] == [1]
    assert staff.recent_audit(context, prefix="seminar.") == []


def test_a_session_that_has_passed_is_accepted_and_shown_as_past(context):
    document = seeded(context)
    document["sessions"].insert(
        0,
        {
            "id": "2026-4",
            "number": 4,
            "title": "지난해 마지막 회",
            "starts": "2026-11-20T14:00",
            "ends": "2026-11-20T17:00",
        },
    )
    save_block(context, EDITOR, document, now=datetime(2026, 12, 2, tzinfo=UTC))
    block = current_block(context, now=datetime(2026, 12, 2, tzinfo=UTC))
    assert block.past == {"2026-4"}
    rendered = preview_edition(context, scheduled_for=SCHEDULED, now=SCHEDULED)
    assert "지난해 마지막 회" not in rendered.html
    assert "글로벌 바이오산업 동향과 국내 현황" in rendered.html


@pytest.mark.parametrize(
    ("part", "value"), [("phone", "031-000-0000"), ("advertisement", True), ("name", "다른 기관")]
)
def test_an_editor_cannot_change_the_sender_or_the_advertising_switch(context, part, value):
    document = seeded(context)
    document["sender"][part] = value
    document["sessions"][0]["title"] = "바뀐 주제"
    with pytest.raises(staff.PermissionDenied):
        save_block(context, EDITOR, document)
    assert [v.number for v in block_versions(context)] == [1]
    assert current_block(context).document["sessions"][0]["title"] != "바뀐 주제"
    assert staff.recent_audit(context, prefix="seminar.") == []
    # An admin may.
    assert save_block(context, ADMIN, document) == 2


def test_rollback_reactivates_an_older_version_and_is_audited(context):
    document = seeded(context)
    document["sender"]["phone"] = "031-123-4567"
    save_block(context, ADMIN, document)
    # An editor may not roll back over a sender change either.
    with pytest.raises(staff.PermissionDenied):
        rollback_block(context, EDITOR, 1)
    rollback_block(context, ADMIN, 1, client="192.0.2.9")
    assert [(v.number, v.active) for v in block_versions(context)] == [(2, False), (1, True)]
    assert current_block(context).document["sender"]["phone"] == "070-7784-3185"
    entry = staff.recent_audit(context, prefix="seminar.rollback")[0]
    assert entry["detail"] == {
        "before": {"sender.phone": "031-123-4567"},
        "after": {"sender.phone": "070-7784-3185"},
        "from": 2,
    }
    # A version that does not exist changes nothing.
    with pytest.raises(LookupError):
        rollback_block(context, ADMIN, 9)
    # Roles without edit_seminar are refused before anything is read.
    with pytest.raises(staff.PermissionDenied):
        rollback_block(context, Account("x@example.kr", "reader"), 2)


def test_the_preview_shows_a_changed_session_date_and_sender_phone(context):
    document = seeded(context)
    before = preview_edition(context, scheduled_for=SCHEDULED, now=SCHEDULED)
    assert "2027년 3월 26일" in before.html and "070-7784-3185" in before.html
    assert not before.subject.startswith("(광고)")
    document["sessions"][0]["starts"] = "2027-03-31T14:00"
    document["sessions"][0]["ends"] = "2027-03-31T17:00"
    document["sessions"][0]["speakers"] = "김바이오 교수 (한국공학대학교)"
    document["sender"]["phone"] = "031-123-4567"
    document["sender"]["advertisement"] = True
    save_block(context, ADMIN, document)
    after = preview_edition(context, scheduled_for=SCHEDULED, now=SCHEDULED)
    assert "2027년 3월 31일" in after.html and "2027년 3월 26일" not in after.html
    assert "031-123-4567" in after.html and "031-123-4567" in after.text
    assert "김바이오 교수 (한국공학대학교)" in after.html
    assert "발표 (Speakers): 김바이오 교수" in after.text
    assert after.subject.startswith("(광고) ")


async def test_the_notices_footer_follows_the_saved_sender(context, smtp_server):
    document = seeded(context)
    document["sender"]["phone"] = "031-123-4567"
    document["sender"]["postal_address"] = "경기도 시흥시 새 주소 1"
    save_block(context, ADMIN, document)
    version = subscriptions.current_consent_text(context).version
    subscriptions.signup(
        context, "reader@example.kr", consented=True, consent_version=version, now=SCHEDULED
    )
    assert await delivery.deliver_notices(context, now=SCHEDULED) == 1
    [mail] = smtp_server.messages
    body = mail.message.get_body(("plain",)).get_content()
    assert "031-123-4567" in body and "경기도 시흥시 새 주소 1" in body
    assert "070-7784-3185" not in body


def test_saves_at_the_same_time_each_get_their_own_number(context):
    document = seeded(context)

    def save(index: int) -> int:
        mine = copy.deepcopy(document)
        mine["sessions"][0]["title"] = f"동시 저장 {index}"
        return save_block(context, EDITOR, mine)

    with ThreadPoolExecutor(max_workers=4) as pool:
        numbers = sorted(pool.map(save, range(4)))
    assert numbers == [2, 3, 4, 5]
    versions = block_versions(context)
    assert [v.number for v in versions if v.active] == [5]
    assert len(staff.recent_audit(context, prefix="seminar.save")) == 4

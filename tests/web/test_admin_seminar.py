"""The seminar and sender page over real HTTP: the form round trip, errors beside their fields, the editor's locked sender, versions and rollback, and the .ics following the database."""

from __future__ import annotations

import html
from html.parser import HTMLParser

import httpx

from mailer import digest, staff
from mailer.seed import initialise
from tests.web.admin_support import AdminSite, add_staff, admin_site


class _Form(HTMLParser):
    """The fields the seminar form sends as a browser would: no disabled field, ticked boxes only."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self.disabled: set[str] = set()
        self.inside = False
        self.textarea: tuple[str, bool] | None = None
        self.text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("action") == "/admin/seminar"
        if not self.inside or "name" not in attrs:
            return
        name, disabled = attrs["name"], "disabled" in attrs
        if disabled:
            self.disabled.add(name)
        if tag == "textarea":
            self.textarea, self.text = (name, disabled), ""
        elif tag == "input" and not disabled:
            kind = attrs.get("type", "text")
            if kind != "checkbox" or "checked" in attrs:
                self.fields.append((name, attrs.get("value") or ""))

    def handle_data(self, data):
        if self.textarea is not None:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        if tag == "textarea" and self.textarea is not None:
            name, disabled = self.textarea
            if not disabled:
                self.fields.append((name, html.unescape(self.text)))
            self.textarea = None


def read_form(page: str) -> _Form:
    form = _Form()
    form.feed(page)
    return form


def post_form(http: httpx.Client, changes: dict[str, str], *, action: str = "save"):
    """Open the page, change some fields, send the form with the button ``action``."""
    page = http.get("/admin/seminar")
    assert page.status_code == 200, page.text
    fields = dict(read_form(page.text).fields)
    fields.update(changes)
    fields["action"] = action
    return http.post("/admin/seminar", data=fields)


def _seed(site: AdminSite) -> None:
    initialise(site.context)
    add_staff(site, "admin@example.kr", "admin")
    add_staff(site, "editor@example.kr", "editor")


def test_a_changed_session_date_goes_round_and_the_calendar_follows(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        _seed(site)
        http = site.log_in("admin@example.kr")
        page = http.get("/admin/seminar")
        assert page.status_code == 200
        assert "세미나와 발신자 정보" in page.text and "지금 쓰이는 버전: 1" in page.text
        assert 'value="070-7784-3185"' in page.text and 'value="미래전략산업실"' in page.text
        assert 'class="past-mark"' not in page.text
        saved = post_form(
            http,
            {
                "sessions.0.date": "2027-03-31",
                "sessions.0.speakers": "김바이오 교수",
                "note": "1회 날짜 변경",
            },
        )
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == "/admin/seminar?done=saved&version=2"
        again = http.get(saved.headers["location"])
        assert "저장했습니다 (버전 2)" in again.text
        assert 'value="2027-03-31"' in again.text and 'value="김바이오 교수"' in again.text
        assert "1회 날짜 변경" in again.text
        calendar = http.get("/seminar/2027-1.ics")
        assert "DTSTART;TZID=Asia/Seoul:20270331T140000" in calendar.text
        [entry] = site.audit("seminar.save")
        assert entry["detail"]["after"]["sessions[2027-1].starts"] == "2027-03-31T14:00"
        assert entry["client_address"] == "127.0.0.1"

        # Rollback, from the versions list.
        rolled = http.post(
            "/admin/seminar/rollback",
            data={"csrf_token": dict(read_form(again.text).fields)["csrf_token"], "number": "1"},
        )
        assert rolled.status_code == 303
        assert "되돌렸습니다" in http.get(rolled.headers["location"]).text
        assert "20270326T140000" in http.get("/seminar/2027-1.ics").text
        assert site.audit("seminar.rollback")[0]["target"] == "version 1"


def test_a_mistake_is_shown_beside_its_field_and_nothing_typed_is_lost(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        _seed(site)
        http = site.log_in("editor@example.kr")
        refused = post_form(
            http,
            {
                "contact.phone": "전화 주세요",
                "sessions.1.title": "",
                "series.summary": "새 소개 문장",
            },
        )
        assert refused.status_code == 422
        text = refused.text
        assert "저장하지 못했습니다" in text
        assert 'id="contact-phone-error">전화번호 형식이 아닙니다' in text
        assert 'aria-describedby="contact-phone-error" aria-invalid="true"' in text
        assert 'id="sessions-1-title-error">비워 둘 수 없습니다' in text
        assert 'value="전화 주세요"' in text and "새 소개 문장</textarea>" in text
        # A session that ends before it starts: the message is under its end time.
        backwards = post_form(http, {"sessions.2.end": "09:00"})
        assert backwards.status_code == 422
        assert (
            'id="sessions-2-end-error">끝나는 시간이 시작 시간보다 늦어야 합니다' in backwards.text
        )
        assert 'id="sessions-2-end" name="sessions.2.end" value="09:00"' in backwards.text
        assert [v.number for v in digest.block_versions(site.context)] == [1]
        # In English, the English half of the message.
        english = post_form(http, {"contact.phone": "x", "lang": "en"})
        assert 'id="contact-phone-error">is not a phone number' in english.text


def test_add_session_adds_an_empty_row_and_saves_nothing(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        _seed(site)
        http = site.log_in("editor@example.kr")
        more = post_form(http, {"series.title": "바꾸는 중"}, action="add_row")
        assert more.status_code == 200
        assert 'name="sessions.5.id"' in more.text and 'name="sessions.6.id"' not in more.text
        assert 'value="바꾸는 중"' in more.text
        assert [v.number for v in digest.block_versions(site.context)] == [1]
        # The new rows filled in and one session removed: saved as typed.
        fields = dict(read_form(more.text).fields)
        fields |= {
            "sessions.4.id": "2027-5",
            "sessions.4.number": "5",
            "sessions.4.date": "2027-07-23",
            "sessions.4.start": "14:00",
            "sessions.4.title": "하반기 첫 세미나",
            "sessions.0.remove": "1",
            "action": "save",
        }
        assert http.post("/admin/seminar", data=fields).status_code == 303
        sessions = digest.current_block(site.context).document["sessions"]
        assert [s["id"] for s in sessions] == ["2027-2", "2027-3", "2027-4", "2027-5"]
        assert sessions[-1]["ends"] is None


def test_a_past_session_is_marked_and_kept(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        _seed(site)
        http = site.log_in("editor@example.kr")
        saved = post_form(http, {"sessions.0.date": "2020-03-26"})
        assert saved.status_code == 303
        page = http.get("/admin/seminar").text
        assert page.count('<span class="past-mark">지난 일정</span>') == 1
        assert page.count('class="session past"') == 1


def test_the_editor_sees_the_sender_locked_and_a_forged_change_is_refused(
    make_settings, database_url
):
    with admin_site(make_settings, database_url) as site:
        _seed(site)
        editor = site.log_in("editor@example.kr")
        page = editor.get("/admin/seminar")
        form = read_form(page.text)
        assert "이 항목은 관리자만 바꿀 수 있습니다" in page.text
        assert {"sender.name", "sender.phone", "sender.advertisement"} <= form.disabled
        assert "sender.present" not in dict(form.fields)
        # The form as the editor's browser sends it saves the rest; the sender stays.
        assert post_form(editor, {"sessions.0.title": "편집자가 바꾼 주제"}).status_code == 303
        document = digest.current_block(site.context).document
        assert document["sessions"][0]["title"] == "편집자가 바꾼 주제"
        assert document["sender"]["phone"] == "070-7784-3185"
        # A forged POST with the sender's fields is refused whole.
        for forged in (
            {"sender.present": "1", "sender.phone": "031-000-0000"},
            {"sender.present": "1", "sender.advertisement": "1"},
        ):
            fields = {
                **{f"sender.{name}": value for name, value in document["sender"].items()},
                "sender.advertisement": "",
                "sessions.0.title": "위조",
                **forged,
            }
            refused = post_form(editor, fields)
            assert refused.status_code == 403 and "권한이 없습니다" in refused.text
        assert [v.number for v in digest.block_versions(site.context)] == [2, 1]
        assert len(site.audit("seminar.save")) == 1
        # The admin sees the fields open and may change them.
        admin = site.log_in("admin@example.kr")
        assert not read_form(admin.get("/admin/seminar").text).disabled
        changed = post_form(admin, {"sender.phone": "031-123-4567", "sender.advertisement": "1"})
        assert changed.status_code == 303
        sender = digest.current_block(site.context).document["sender"]
        assert (sender["phone"], sender["advertisement"]) == ("031-123-4567", True)
        assert staff.recent_audit(site.context, prefix="seminar.save")[0]["detail"]["after"] == {
            "sender.phone": "031-123-4567",
            "sender.advertisement": True,
        }

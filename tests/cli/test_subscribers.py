"""`mailer subscribers …` as a user runs it: a subprocess against SQLite/PostgreSQL and the test SMTP server."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import cli_env, run_cli


@pytest.fixture
def cli(tmp_path, database_url, smtp_server):
    env = cli_env(
        MAILER_DATABASE_URL=database_url,
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_SMTP__HOST=smtp_server.host,
        MAILER_SMTP__PORT=str(smtp_server.port),
        MAILER_BASE_URL="https://news.example.or.kr",
    )
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0

    def run(*args: str):
        return run_cli("subscribers", *args, env=env, cwd=tmp_path)

    return run


#: For behaviour that does not touch backend-specific SQL, one backend is enough.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def listed(cli) -> list[dict]:
    result = cli("list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_import_reports_every_row_and_keeps_attributes(cli, tmp_path):
    (tmp_path / "list.csv").write_text(
        "Email,name,organisation,부서,note\n"
        "kim@example.kr,김철수,시흥산업진흥원,미래전략산업실,\n"
        "not-an-address,x,,,\n"
        "KIM@example.kr,중복,,,\n"
        'lee@example.kr,"Lee, Young",,,"two\nlines"\n'
        'evil@example.kr,"Eve\rBcc: x@example.kr",,,\n'
        "park@example.kr,박,,연구팀,,extra-field\n",
        encoding="utf-8",
    )
    result = cli("import", "list.csv", "--confirmed", "--source", "seminar-2026-03")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "imported 2, duplicates 1, suppressed 0, invalid 3" in out
    assert "line 3: email is not a valid email address" in out
    assert "line 7: name must not contain line breaks" in out
    assert "line 9: more fields than the header has" in out
    assert "duplicate lines: 4" in out
    people = {p["email"]: p for p in listed(cli)}
    assert set(people) == {"kim@example.kr", "lee@example.kr"}
    assert people["kim@example.kr"]["attributes"] == {"부서": "미래전략산업실"}
    assert people["kim@example.kr"]["organisation"] == "시흥산업진흥원"
    assert people["lee@example.kr"]["attributes"] == {"note": "two\nlines"}
    assert people["lee@example.kr"]["status"] == "active"
    assert people["lee@example.kr"]["source"] == "seminar-2026-03"

    exported = cli("export")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["email"] for r in rows] == ["kim@example.kr", "lee@example.kr"]
    assert rows[0]["부서"] == "미래전략산업실" and rows[1]["name"] == "Lee, Young"
    # The export is itself importable: every address is a duplicate now.
    (tmp_path / "again.csv").write_text(exported.stdout, encoding="utf-8")
    again = cli("import", "again.csv", "--confirmed")
    assert "imported 0, duplicates 2" in again.stdout


@sqlite_only
def test_import_needs_an_email_header(cli, tmp_path):
    (tmp_path / "bad.csv").write_text("name,phone\n김,010\n", encoding="utf-8")
    result = cli("import", "bad.csv")
    assert result.returncode == 2
    assert "header row with an `email` column" in result.stderr
    assert "name, phone" in result.stderr
    missing = cli("import", "nowhere.csv")
    assert missing.returncode == 2 and "nowhere.csv is not a readable file" in missing.stderr


@sqlite_only
def test_import_reads_cp949_from_korean_spreadsheets(cli, tmp_path):
    (tmp_path / "excel.csv").write_bytes("email,이름\nhan@example.kr,한글이름\n".encode("cp949"))
    assert cli("import", "excel.csv", "--confirmed").returncode == 0
    assert listed(cli)[0]["name"] == "한글이름"


@sqlite_only
def test_list_json_layout_and_a_limited_table(cli, tmp_path):
    (tmp_path / "two.csv").write_text(
        "email,name,부서\nkim@example.kr,김철수,미래\nlee@example.kr,,\n", encoding="utf-8"
    )
    assert cli("import", "two.csv", "--confirmed").returncode == 0
    result = cli("list", "--json")
    assert result.stdout.startswith('[\n  {\n    "email": "kim@example.kr",\n    "name": "김철수",')
    [kim, lee] = json.loads(result.stdout)
    assert list(kim) == [
        "email",
        "name",
        "organisation",
        "status",
        "source",
        "created_at",
        "confirmed_at",
        "attributes",
    ]
    assert kim["attributes"] == {"부서": "미래"} and lee["name"] is None
    table = cli("list", "--limit", "1")
    assert table.returncode == 0, table.stderr
    assert "kim@example.kr" in table.stdout and "lee@example.kr" not in table.stdout
    assert "active 2" in table.stdout


@sqlite_only
def test_unconfirmed_import_sends_opt_in_mails(cli, tmp_path, smtp_server):
    (tmp_path / "new.csv").write_text("email\na@example.kr\nb@example.kr\n", encoding="utf-8")
    result = cli("import", "new.csv")
    assert "2 confirmation mail(s) queued" in result.stdout
    assert {p["status"] for p in listed(cli)} == {"pending"}
    sent = cli("send-notices")
    assert sent.returncode == 0 and "sent 2" in sent.stdout
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == ["a@example.kr", "b@example.kr"]
    assert all(
        "/confirm/" in m.message.get_body(("plain",)).get_content() for m in smtp_server.messages
    )


def test_add_remove_erase_and_suppressed_reimport(cli, tmp_path, smtp_server):
    added = cli("add", "staff@example.kr", "--name", "담당", "--confirmed")
    assert added.returncode == 0 and "added staff@example.kr" in added.stdout
    assert "수신 동의 처리 결과" in smtp_server.messages[-1].message["Subject"]
    assert cli("add", "staff@example.kr", "--confirmed").returncode == 2  # already subscribed

    removed = cli("remove", "staff@example.kr")
    assert removed.returncode == 0 and "unsubscribed" in removed.stdout
    assert "수신거부 처리 결과" in smtp_server.messages[-1].message["Subject"]
    assert "already unsubscribed" in cli("remove", "staff@example.kr").stdout

    erased = cli("erase", "staff@example.kr")
    assert erased.returncode == 0 and "erased" in erased.stdout
    assert "삭제 처리 결과" in smtp_server.messages[-1].message["Subject"]
    assert listed(cli) == []
    assert cli("erase", "staff@example.kr").returncode == 1

    # An erased address is never brought back by an import.
    (tmp_path / "old.csv").write_text("email\nSTAFF@example.kr\nnew@example.kr\n", encoding="utf-8")
    result = cli("import", "old.csv", "--confirmed")
    assert "imported 1, duplicates 0, suppressed 1" in result.stdout
    assert "suppressed lines: 2" in result.stdout
    assert [p["email"] for p in listed(cli)] == ["new@example.kr"]

    bad = cli("add", "x@example.kr\r\nBcc: y@example.kr")
    assert bad.returncode == 2 and "line breaks" in bad.stderr


def test_streaming_import_of_several_batches(cli, tmp_path):
    lines = ["email,seq"] + [f"user{n}@example.kr,{n}" for n in range(2500)] + ["broken"]
    (tmp_path / "many.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("import", "many.csv", "--confirmed", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["imported"] == 2500
    assert report["invalid"] == [{"line": 2502, "reason": "email is not a valid email address"}]
    assert len(listed(cli)) == 2500


@sqlite_only
def test_qr_codes_and_form_snippet_for_posters(cli, tmp_path):
    png = cli("qr", "poster.png", "--source", "poster-2026")
    assert png.returncode == 0, png.stderr
    data = (tmp_path / "poster.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 200
    svg = cli("qr", "poster.svg", "--source", "poster-2026")
    assert svg.returncode == 0
    root = ET.fromstring((tmp_path / "poster.svg").read_text())
    title = root.find("{http://www.w3.org/2000/svg}title")
    assert title.text == "https://news.example.or.kr/subscribe?src=poster-2026"
    assert root.find("{http://www.w3.org/2000/svg}path") is not None
    assert cli("qr", "poster.gif").returncode == 2
    assert cli("qr", "x.png", "--source", "a b<").returncode == 2

    snippet = cli("form-snippet", "--source", "site")
    assert snippet.returncode == 0
    html = snippet.stdout
    assert 'action="https://news.example.or.kr/subscribe"' in html and 'method="get"' in html
    assert '<label for="mailer-email"' in html and 'name="src" value="site"' in html
    assert "<script" not in html
    english = cli("form-snippet", "--lang", "en")
    assert "Email address" in english.stdout


@sqlite_only
def test_staff_input_follows_the_signup_rules_for_invisible_text_and_existing_people(cli, tmp_path):
    # Issue 11: typed at the command line, invisible characters are refused (one line, exit 2);
    # in a spreadsheet they came along unseen from copy and paste and are removed.
    refused = cli("add", "bidi@example.kr", "--name", "김\u202e철수", "--confirmed")
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 2 and len(lines) == 1
    assert "name must not contain invisible or text-direction characters" in lines[0]
    assert "\u202e" not in refused.stderr
    (tmp_path / "pasted.csv").write_text(
        "email,name,organisation\n"
        "kim@example.kr,\ufeff김\u200b철수,시흥\u2066대학교\u2069\n"
        "esc@example.kr,\x1b[31m김,\n",
        encoding="utf-8",
    )
    imported = cli("import", "pasted.csv", "--confirmed")
    assert "imported 1, duplicates 0, suppressed 0, invalid 1" in imported.stdout
    assert "line 3: name must not contain line breaks or control characters" in imported.stdout

    # A pending person's name is theirs: staff confirming them fill in only what is empty.
    assert cli("add", "pending@example.kr", "--name", "박민수").returncode == 0
    again = cli("add", "pending@example.kr", "--name", "다른 이름", "--organisation", "진흥원")
    assert again.returncode == 0, again.stderr
    confirmed = cli(
        "add", "pending@example.kr", "--name", "또 다른", "--organisation", "x", "--confirmed"
    )
    assert confirmed.returncode == 0, confirmed.stderr
    people = {p["email"]: p for p in listed(cli)}
    assert (people["kim@example.kr"]["name"], people["kim@example.kr"]["organisation"]) == (
        "김철수",
        "시흥대학교",
    )
    pending = people["pending@example.kr"]
    assert (pending["status"], pending["name"], pending["organisation"]) == (
        "active",
        "박민수",
        "x",
    )
    assert "bidi@example.kr" not in people

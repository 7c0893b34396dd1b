"""Editions: selection, sections, frozen parts, idempotence under races, skips, preview, golden output.

Golden files live in tests/golden/. After a deliberate change to the templates,
config/seminar.toml or the compliance defaults, regenerate them with
``MAILER_TEST_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/digest/test_create.py -k golden``
and review the diff before committing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from mailer.bootstrap import build_context
from mailer.config import load_settings
from mailer.digest.create import create_edition
from mailer.digest.preview import preview_edition, sample_message
from mailer.errors import ConfigError, InvalidInputError, TemplateError
from mailer.models import EditionState, PersonalField
from mailer.seed import initialise
from mailer.store import editions as edition_store
from mailer.store.db import write_transaction, writing
from mailer.store.tables import edition_stories, editions
from tests.digest_data import BASE_URL, MONDAY, add_story, mark_sent, week_of_news
from tests.helpers import cli_env, run_cli
from tests.support.races import WAITING_FOR_A_LOCK

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
REGENERATE = os.environ.get("MAILER_TEST_REGENERATE_GOLDEN") == "1"


@pytest.fixture
def digest_settings(make_settings, database_url):
    return make_settings(database_url=database_url, base_url=BASE_URL)


@pytest.fixture
def ctx(digest_settings):
    context = build_context(digest_settings)
    yield context
    context.close()


def create(ctx, *, at=MONDAY, schedule="digest"):
    return create_edition(ctx, schedule=schedule, scheduled_for=at, now=at)


def count(ctx, table) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_an_edition_freezes_selection_sections_and_parts(ctx):
    with write_transaction(ctx.engine) as conn:
        ids = week_of_news(conn)
    edition = create(ctx)

    assert edition.state is EditionState.DRAFT
    assert edition.number == 1
    assert (edition.schedule, edition.scheduled_for) == ("digest", MONDAY)
    assert edition.reason is None
    # Ranked by relevance within sections; sections in configured order, 기타 last.
    expected = [
        ("정책·지원", "시흥시, 배곧"),
        ("기업·투자", "티앤알바이오팹"),
        ("연구·임상", "셀트리온, 美 FDA"),
        ("연구·임상", "국내 연구진"),
        ("해외", "Boston biotech"),
        ("기타", "<script>"),
    ]
    assert len(edition.stories) == len(expected)
    for story, (section, start) in zip(edition.stories, expected, strict=True):
        assert (story["section"], story["title"][: len(start)]) == (section, start)
    fda = edition.stories[2]
    assert set(fda["also_reported_by"]) == {"매일경제", "한국경제"}
    assert fda["member_ids"] == [ids["fda"], ids["fda-reprint"]]
    assert set(fda) >= {"title", "url", "source", "published", "summary", "story_id"}
    # Every member of a cluster is linked, so none of them is selected again.
    with ctx.engine.connect() as conn:
        linked = edition_store.edition_story_ids(conn, edition.id)
        stored = edition_store.find_by_number(conn, 1)
    assert set(linked) == {ids[key] for key in ids} - {ids["old"], ids["irrelevant"]}
    assert stored == edition
    # Subject, HTML and text carry the lead story, the seminar block and the footer.
    assert edition.subject.startswith("시흥 바이오산업 주간 뉴스 제1호 · 시흥시, 배곧 바이오")
    assert edition.subject.endswith("외 5건")
    for part in (edition.html, edition.text):
        assert "시흥시 K-바이오산업 육성전략 세미나" in part
        assert "미래전략산업실" in part and "070-7784-3185" in part
        assert "(재)시흥산업진흥원" in part and "서울대학로 59-21" in part
        assert "news@example.or.kr" in part
        assert "수신거부" in part and "Unsubscribe" in part
        assert "동의하셨기 때문에" in part and "You receive this because" in part
        assert f"{BASE_URL}/archive/1" in part
        assert f"{BASE_URL}/seminar/2027-1.ics" in part
        assert "함께 보도: " in part
        for field in (PersonalField.UNSUBSCRIBE_URL, PersonalField.PREFERENCES_URL):
            assert field.marker in part
    assert "<script" not in edition.html.lower()


def test_creating_twice_returns_the_existing_edition_and_creates_nothing(ctx):
    with write_transaction(ctx.engine) as conn:
        week_of_news(conn)
    first = create(ctx)
    links = count(ctx, edition_stories)
    with write_transaction(
        ctx.engine
    ) as conn:  # news arriving later must not change the frozen edition
        add_story(conn, "late", title="늦게 들어온 바이오 소식", relevance=99)
    again = create_edition(
        ctx, schedule="digest", scheduled_for=MONDAY, now=MONDAY + timedelta(hours=2)
    )
    assert again == first
    assert count(ctx, editions) == 1
    assert count(ctx, edition_stories) == links
    # The same moment given in another zone is the same key.
    seoul = MONDAY.astimezone(ctx.settings.zone)
    assert create_edition(ctx, schedule="digest", scheduled_for=seoul).id == first.id


def test_stories_in_a_sent_edition_are_not_selected_again(ctx):
    with write_transaction(ctx.engine) as conn:
        week_of_news(conn)
    first = create(ctx)
    with write_transaction(ctx.engine) as conn:
        mark_sent(conn, first.id)
        add_story(
            conn,
            "next-week",
            title="바이오 신약 임상 2상 결과 발표",
            now=MONDAY + timedelta(days=7),
        )
    second = create(ctx, at=MONDAY + timedelta(days=7))
    assert second.number == 2
    assert [story["title"] for story in second.stories] == ["바이오 신약 임상 2상 결과 발표"]


def test_the_story_count_is_capped(make_settings, database_url):
    settings = make_settings(database_url=database_url, digest={"max_stories": 3})
    context = build_context(settings)
    try:
        with write_transaction(context.engine) as conn:
            for index in range(8):
                add_story(conn, f"s{index}", title=f"바이오 소식 {index}", relevance=index)
        edition = create(context)
    finally:
        context.close()
    assert [story["title"] for story in edition.stories] == [
        "바이오 소식 7",
        "바이오 소식 6",
        "바이오 소식 5",
    ]


def test_sections_come_from_the_configuration_file(
    make_settings, database_url, tmp_path, monkeypatch
):
    config = tmp_path / "mailer.toml"
    config.write_text(
        '[digest]\nfallback_section = "그 밖의 소식"\n'
        '[digest.sections]\n"투자" = ["투자", "funding"]\n"임상" = ["임상"]\n',
        "utf-8",
    )
    monkeypatch.setenv("MAILER_CONFIG", str(config))
    settings = make_settings(database_url=database_url)
    context = build_context(settings)
    try:
        with write_transaction(context.engine) as conn:
            add_story(conn, "a", title="임상 3상 진입", relevance=3)
            add_story(conn, "b", title="Series B funding closes", relevance=2)
            add_story(conn, "c", title="바이오 전시회 개막", relevance=1)
        edition = create(context)
    finally:
        context.close()
    assert [(s["section"], s["title"]) for s in edition.stories] == [
        ("투자", "Series B funding closes"),
        ("임상", "임상 3상 진입"),
        ("그 밖의 소식", "바이오 전시회 개막"),
    ]
    assert "[그 밖의 소식] 1건" in edition.text


def test_nothing_to_send_records_a_skipped_edition(ctx):
    with write_transaction(ctx.engine) as conn:
        add_story(conn, "old", title="오래된 바이오 소식", age=timedelta(days=10))
    edition = create(ctx)
    assert edition.state is EditionState.SKIPPED
    assert "send_when_empty" in edition.reason and "no relevant stories" in edition.reason
    assert edition.stories == []
    with ctx.engine.connect() as conn:
        stored = edition_store.find_by_key(conn, schedule="digest", scheduled_for=MONDAY)
    assert stored.state is EditionState.SKIPPED and stored.reason == edition.reason
    assert create(ctx).id == edition.id  # and the skip is not repeated


def test_send_when_empty_sends_the_seminar_block_alone(make_settings, database_url):
    settings = make_settings(database_url=database_url, digest={"send_when_empty": True})
    context = build_context(settings)
    try:
        edition = create(context)
    finally:
        context.close()
    assert edition.state is EditionState.DRAFT
    assert edition.stories == []
    # The next session's own date (its year too: it is in another one), not the send date.
    assert (
        edition.subject
        == "시흥 바이오산업 주간 뉴스 제1호 · 2027년 3월 26일 (금) 제1회 세미나 안내"
    )
    assert "12월 7일" not in edition.subject
    assert "새로 전해 드릴 소식이 없습니다" in edition.html
    assert "시흥시 K-바이오산업 육성전략 세미나" in edition.html
    assert "제1회" in edition.text and "070-7784-3185" in edition.text


SEMINAR_SERIES = """
[series]
title = "시흥시 K-바이오산업 육성전략 세미나"
host = "시흥산업진흥원"
venue = "시흥비즈니스센터"
apply = "문의처로 신청"

[contact]
organisation = "(재)시흥산업진흥원"
phone = "070-7784-3185"
email = "bio@example.or.kr"
"""


@pytest.mark.parametrize(
    ("sessions", "subject"),
    [
        # Later this year: month, day and weekday of the session.
        (
            'id = "a"\nnumber = 3\ntitle = "투자"\nstarts = 2026-12-18T14:00:00\n',
            "시흥 바이오산업 주간 뉴스 제1호 · 12월 18일 (금) 제3회 세미나 안내",
        ),
        # A session without a number, and one already over (not named).
        (
            'id = "old"\ntitle = "지난 회"\nstarts = 2026-11-20T14:00:00\n'
            '[[sessions]]\nid = "b"\ntitle = "특강"\nstarts = 2027-01-15T10:00:00\n',
            "시흥 바이오산업 주간 뉴스 제1호 · 2027년 1월 15일 (금) 세미나 안내",
        ),
        # Every session over: the edition and its own date, said to be its publication date.
        (
            'id = "old"\ntitle = "지난 회"\nstarts = 2026-11-20T14:00:00\n',
            "시흥 바이오산업 주간 뉴스 제1호 · 12월 7일 발행",
        ),
    ],
)
def test_a_subject_without_news_names_the_edition_and_the_session_by_its_own_date(
    make_settings, database_url, tmp_path, sessions, subject
):
    """Issue 15 item 4: "제2호 · 12월 1일 세미나 안내" read as a seminar on the day it arrived."""
    seminar_file = tmp_path / "seminar.toml"
    seminar_file.write_text(SEMINAR_SERIES + "\n[[sessions]]\n" + sessions, "utf-8")
    settings = make_settings(
        database_url=database_url,
        digest={"send_when_empty": True, "seminar_file": str(seminar_file)},
    )
    context = build_context(settings)
    try:
        edition = create(context)  # Monday 2026-12-07, 09:00 in Seoul
    finally:
        context.close()
    assert edition.subject == subject


def test_a_subject_with_news_keeps_its_lead_story(ctx):
    with write_transaction(ctx.engine) as conn:
        add_story(conn, "a", title="바이오 소식")
    assert create(ctx).subject == "시흥 바이오산업 주간 뉴스 제1호 · 바이오 소식"


def test_advertisement_puts_the_notice_first_in_the_subject(make_settings, database_url):
    settings = make_settings(database_url=database_url, compliance={"advertisement": True})
    context = build_context(settings)
    try:
        with write_transaction(context.engine) as conn:
            add_story(conn, "a", title="바이오 소식")
        edition = create(context)
    finally:
        context.close()
    assert edition.subject == "(광고) 시흥 바이오산업 주간 뉴스 제1호 · 바이오 소식"


def test_hostile_story_text_is_escaped_and_cannot_forge_markers(ctx):
    with write_transaction(ctx.engine) as conn:
        week_of_news(conn)
    edition = create(ctx)
    html, text_part = edition.html, edition.text
    assert "<script" not in html.lower() and "<img" not in html and "<b>해킹일보" not in html
    assert '&lt;script&gt;alert("x")&lt;/script&gt;' in html
    assert "javascript:" not in html  # a non-http link is dropped, the title stays as text
    # Only the footer's markers are real: the forged ones in feed text were defused.
    assert html.count(PersonalField.UNSUBSCRIBE_URL.marker) == 2
    assert text_part.count(PersonalField.UNSUBSCRIBE_URL.marker) == 1
    assert text_part.count(PersonalField.EMAIL.marker) == 1
    assert "%\u200b%MAILER_UNSUBSCRIBE_URL%%" in html
    assert '<script>alert("x")</script> 바이오 행사' in text_part  # plain text is plain


def test_scheduled_for_must_be_aware(ctx):
    with pytest.raises(InvalidInputError):
        create_edition(ctx, schedule="digest", scheduled_for=datetime(2026, 12, 7, 9))
    assert count(ctx, editions) == 0


def test_a_template_or_seminar_mistake_creates_nothing(make_settings, database_url, tmp_path):
    templates = tmp_path / "templates"
    (templates / "email").mkdir(parents=True)
    root = Path(__file__).resolve().parents[2] / "templates" / "email"
    for path in root.iterdir():
        (templates / "email" / path.name).write_text(path.read_text("utf-8"), "utf-8")
    broken = (templates / "email" / "digest.txt.j2").read_text("utf-8")
    lines = broken.splitlines()
    lines[6] = "{{ edition.numbr }}"
    (templates / "email" / "digest.txt.j2").write_text("\n".join(lines), "utf-8")
    context = build_context(make_settings(database_url=database_url, templates_dir=templates))
    try:
        with write_transaction(context.engine) as conn:
            add_story(conn, "a", title="바이오 소식")
        with pytest.raises(TemplateError) as caught:
            create(context)
        assert (caught.value.template, caught.value.line) == ("digest.txt.j2", 7)
        assert "numbr" in str(caught.value)
        assert count(context, editions) == 0
    finally:
        context.close()
    bad_seminar = tmp_path / "seminar.toml"
    bad_seminar.write_text("[series]\ntitle = '세미나'\n", "utf-8")
    context = build_context(
        make_settings(database_url=database_url, digest={"seminar_file": str(bad_seminar)})
    )
    try:
        with pytest.raises(ConfigError, match="seminar file .*series.host"):
            create(context)
        assert count(context, editions) == 0
    finally:
        context.close()


def test_no_seminar_file_means_no_seminar_block(make_settings, database_url):
    context = build_context(make_settings(database_url=database_url, digest={"seminar_file": ""}))
    try:
        with write_transaction(context.engine) as conn:
            add_story(conn, "a", title="바이오 소식")
        edition = create(context)
    finally:
        context.close()
    assert "육성전략 세미나" not in edition.html
    assert "수신거부" in edition.html  # the footer is always there


# --- preview ------------------------------------------------------------------------------


def test_preview_renders_the_next_edition_and_stores_nothing(ctx):
    initialise(ctx)
    with write_transaction(ctx.engine) as conn:
        week_of_news(conn, now=MONDAY - timedelta(days=1))
    sunday = MONDAY - timedelta(days=1)
    preview = preview_edition(ctx, scheduled_for=MONDAY, now=sunday)
    assert count(ctx, editions) == 0 and count(ctx, edition_stories) == 0
    assert (preview.number, preview.schedule, preview.scheduled_for) == (1, "digest", MONDAY)
    created = create_edition(ctx, schedule="digest", scheduled_for=MONDAY, now=sunday)
    assert (preview.subject, preview.html, preview.text) == (
        created.subject,
        created.html,
        created.text,
    )
    assert preview.story_records() == created.stories
    assert preview_edition(ctx, scheduled_for=MONDAY, now=sunday).number == 2


# --- races --------------------------------------------------------------------------------

RACER = """
import json, sys
from datetime import datetime
from mailer.bootstrap import build_context
from mailer.config import load_settings
from mailer.digest.create import create_edition

url, data_dir, scheduled = sys.argv[1:4]
ctx = build_context(load_settings(database_url=url, data_dir=data_dir))
ctx.mail_renderer.get()  # compile templates before the start line, so the racers overlap
with ctx.engine.connect() as conn:
    conn.exec_driver_sql("SELECT 1")
print("ready", flush=True)
sys.stdin.readline()  # the start line: the test says go once every racer is ready
edition = create_edition(ctx, schedule="digest", scheduled_for=datetime.fromisoformat(scheduled))
print(json.dumps({"id": edition.id, "number": edition.number}))
"""


def test_processes_racing_for_one_edition_create_exactly_one(database_url, tmp_path, ctx):
    with write_transaction(ctx.engine) as conn:
        week_of_news(conn, now=datetime.now(UTC))
    scheduled = datetime.now(UTC).replace(microsecond=0).isoformat()
    racers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RACER,
                database_url,
                str(tmp_path / "var"),
                scheduled,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for _ in range(4)
    ]
    for racer in racers:
        assert racer.stdout.readline() == "ready\n", racer.communicate(timeout=60)[1]
    for racer in racers:  # all four are at the start line now
        racer.stdin.write("go\n")
        racer.stdin.flush()
    results = []
    for racer in racers:
        out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err
        results.append(json.loads(out))
    assert len({result["id"] for result in results}) == 1
    assert {result["number"] for result in results} == {1}
    assert count(ctx, editions) == 1


def _wait_until_blocked(ctx, *, timeout=20.0) -> None:
    """Wait until another PostgreSQL session waits for a lock (our racer hit the unique index)."""
    deadline = time.monotonic() + timeout
    with ctx.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text(WAITING_FOR_A_LOCK)).scalar()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the racing create_edition never blocked on the unique key")


def _hold_uncommitted(ctx, *, number, scheduled_for):
    """Insert an edition in a transaction left open, like a slower process mid-create."""
    conn = writing(ctx.engine.connect())
    transaction = conn.begin()
    held = edition_store.insert_edition(
        conn,
        number=number,
        schedule="digest",
        scheduled_for=scheduled_for,
        state=EditionState.DRAFT,
        subject="먼저 만든 호",
        html="<p>first</p>",
        text="first\n",
        stories=[],
        reason=None,
        created_at=MONDAY,
        story_positions=[],
    )
    return conn, transaction, held


def _race(ctx, *, scheduled_for):
    outcome: dict = {}

    def run():
        try:
            outcome["edition"] = create(ctx, at=scheduled_for)
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_losing_the_race_returns_the_winners_edition(ctx):
    """The loser's insert fails on the unique key (PostgreSQL) or waits for the winner's
    write lock (SQLite); either way it returns the winner's row and adds nothing."""
    with write_transaction(ctx.engine) as conn:
        add_story(conn, "a", title="바이오 소식")
    conn, transaction, held = _hold_uncommitted(ctx, number=1, scheduled_for=MONDAY)
    try:
        thread, outcome = _race(ctx, scheduled_for=MONDAY)
        if ctx.engine.dialect.name == "postgresql":
            _wait_until_blocked(ctx)
        else:
            thread.join(0.5)
            assert thread.is_alive()  # its write (BEGIN IMMEDIATE) waits until the winner commits
        transaction.commit()
    finally:
        conn.close()
    thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["edition"].id == held.id
    assert outcome["edition"].subject == "먼저 만든 호"
    assert count(ctx, editions) == 1 and count(ctx, edition_stories) == 0


def test_two_editions_created_at_once_get_different_numbers(ctx):
    with write_transaction(ctx.engine) as conn:
        add_story(conn, "a", title="바이오 소식")
    other_time = MONDAY + timedelta(hours=1)
    conn, transaction, held = _hold_uncommitted(ctx, number=1, scheduled_for=other_time)
    try:
        thread, outcome = _race(ctx, scheduled_for=MONDAY)
        if ctx.engine.dialect.name == "postgresql":
            _wait_until_blocked(ctx)  # blocked on the number, not the key
        transaction.commit()
    finally:
        conn.close()
    thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["edition"].number == 2
    assert outcome["edition"].id != held.id
    assert count(ctx, editions) == 2


# --- golden files -------------------------------------------------------------------------


def _mask_eml(data: bytes) -> str:
    text_form = data.decode("ascii")
    boundary = re.search(r'boundary="([^"]+)"', text_form).group(1)
    text_form = text_form.replace(boundary, "BOUNDARY")
    text_form = re.sub(r"(?m)^Message-ID: .*$", "Message-ID: <MASKED>", text_form)
    return re.sub(r"(?m)^Date: .*$", "Date: MASKED", text_form)


def _check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if REGENERATE:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
    assert path.exists(), f"{path} missing; run with MAILER_TEST_REGENERATE_GOLDEN=1"
    expected = path.read_bytes().decode("utf-8")
    assert actual == expected, f"{name} differs from the golden file (see module docstring)"


def test_golden_html_text_and_eml(ctx):
    with write_transaction(ctx.engine) as conn:
        week_of_news(conn)
    edition = create(ctx)
    _check_golden("digest.html", edition.html)
    _check_golden("digest.txt", edition.text)
    data = sample_message(
        ctx.settings, subject=edition.subject, html=edition.html, text=edition.text, date=MONDAY
    )
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))  # RFC 5322 §2.1.1
    _check_golden("digest.eml", _mask_eml(data))
    # The eml is what the sample subscriber receives: markers filled, Korean intact.
    parsed = message_from_bytes(data, policy=policy.default)
    assert parsed["Subject"] == edition.subject
    assert parsed["To"] == "reader@example.com"
    html = parsed.get_body(("html",)).get_content()
    plain = parsed.get_body(("plain",)).get_content()
    assert "%%MAILER_" not in html and "%%MAILER_" not in plain
    assert f"{BASE_URL}/unsubscribe/sample-subscriber-token" in html
    assert "받는 주소 (Sent to): reader@example.com" in plain
    assert "시흥시 K-바이오산업 육성전략 세미나" in html
    # The preview carries the same list headers the send step puts on every copy.
    assert parsed["List-Unsubscribe"] == (
        f"<{BASE_URL}/unsubscribe/sample-subscriber-token>, "
        f"<mailto:{ctx.settings.compliance.from_address}?subject=sample-subscriber-token>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


# --- command line -------------------------------------------------------------------------


def test_digest_preview_on_the_command_line(tmp_path):
    env = cli_env(MAILER_DATA_DIR=str(tmp_path / "var"), MAILER_BASE_URL=BASE_URL)
    missing = run_cli("digest", "preview", env=env, cwd=tmp_path)
    assert missing.returncode == 1 and "run `mailer init`" in missing.stderr
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    url = f"sqlite:///{tmp_path / 'var' / 'mailer.db'}"
    context = build_context(load_settings(database_url=url, data_dir=tmp_path / "var"))
    try:
        with write_transaction(context.engine) as conn:
            week_of_news(conn, now=datetime.now(UTC))
    finally:
        context.close()

    result = run_cli("digest", "preview", "--format", "json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["subject"].startswith("시흥 바이오산업 주간 뉴스 제1호")
    assert data["state"] == "draft"
    assert len(data["stories"]) == 6
    assert set(data["stories"][0]) == {"title", "url", "source", "published", "summary"}
    assert [section["title"] for section in data["sections"]][-1] == "기타"

    out = tmp_path / "next.eml"
    result = run_cli(
        "digest", "preview", "--format", "eml", "--out", str(out), env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stderr
    message = message_from_bytes(out.read_bytes(), policy=policy.default)
    assert message["Subject"] == data["subject"]
    assert message.get_body(("html",)) is not None and message.get_body(("plain",)) is not None

    html = run_cli("digest", "preview", "--format", "html", env=env, cwd=tmp_path)
    assert html.returncode == 0 and html.stdout.startswith("<!DOCTYPE html>")
    assert "%%MAILER_" not in html.stdout and "sample-subscriber-token" in html.stdout
    raw = run_cli("digest", "preview", "-f", "text", "--markers", env=env, cwd=tmp_path)
    assert raw.returncode == 0 and "%%MAILER_UNSUBSCRIBE_URL%%" in raw.stdout
    bad = run_cli("digest", "preview", "--format", "pdf", env=env, cwd=tmp_path)
    assert bad.returncode == 2
    unwritable = run_cli(
        "digest", "preview", "--out", str(tmp_path / "no" / "dir.html"), env=env, cwd=tmp_path
    )
    assert unwritable.returncode == 2 and "cannot write" in unwritable.stderr
    # Previews stored nothing.
    context = build_context(load_settings(database_url=url, data_dir=tmp_path / "var"))
    try:
        assert count(context, editions) == 0
    finally:
        context.close()

"""The whole staff journey of issue 12's "done when", as a new staff member tries it on a fresh install.

`mailer init` and `mailer serve` run as real processes (the web app, its scheduler and
its send worker) on a fresh SQLite file, sending to a test SMTP server. In Chromium she
opens the first-admin link `serve` printed, creates the admin and logs in; changes the
digest's greeting and one seminar session's date and sees both in the phone and desktop
preview; saves a template with a mistake, sees the error at its line and fixes it;
sends a test to herself, which arrives; moves the weekly send from Monday 09:00 to
Tuesday 10:00. A scheduler on a test clock then reaches that Tuesday: the edition is
made for Tuesday 10:00 (none for Monday) with the new text, and serve's worker delivers
it. The audit log shows every step, and an editor's account cannot send to the list.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from mailer import staff
from mailer.bootstrap import build_context
from mailer.jobs import JOBS
from mailer.schedules import Scheduler, next_runs
from mailer.store.db import write_transaction
from mailer.store.tables import editions
from tests.delivery_data import add_subscribers
from tests.digest_data import week_of_news
from tests.helpers import (
    TEST_SECRET,
    cli_env,
    listening_socket,
    pause_schedules,
    run_cli,
    start_cli,
    stop,
    wait_for,
    wait_for_http,
    wait_for_output,
)
from tests.schedule_support import FakeClock
from tests.web.admin_support import PASSWORD
from tests.web.test_admin_templates_browser import frames_show, put_cursor_after

SEOUL = ZoneInfo("Asia/Seoul")
ADMIN = "staff.kim@example.kr"
EDITOR = "staff.lee@example.kr"
GREETING = "안녕하세요, 시흥 바이오 가족 여러분! "
FIRST_ADMIN_LINK = re.compile(r"(http://127\.0\.0\.1:\d+/admin/set-password/[A-Za-z0-9_-]+)")


def next_weekday(now: datetime, weekday: int, hour: int) -> datetime:
    """The first ``weekday`` (0 = Monday) at ``hour`` o'clock in Seoul after ``now``."""
    local = now.astimezone(SEOUL).replace(hour=hour, minute=0, second=0, microsecond=0)
    local += timedelta(days=(weekday - local.weekday()) % 7)
    return local if local > now else local + timedelta(days=7)


@pytest.fixture
def installation(tmp_path, make_settings, smtp_server):
    """A fresh `mailer init` + `mailer serve` on one SQLite file, and a context on that file."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    sock.close()  # serve binds it itself: it must print the link with its own base URL
    base = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{tmp_path / 'mailer.db'}"
    env = cli_env(
        MAILER_DATABASE_URL=database_url,
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_SECRET_KEY=TEST_SECRET,
        MAILER_BASE_URL=base,
        MAILER_SMTP__HOST=smtp_server.host,
        MAILER_SMTP__PORT=str(smtp_server.port),
        MAILER_SCHEDULER__RELOAD_SECONDS="0.5",
        MAILER_LOG_LEVEL="info",
    )
    initialised = run_cli("init", env=env, cwd=tmp_path)
    assert initialised.returncode == 0, initialised.stderr
    context = build_context(make_settings(database_url=database_url, base_url=base))
    with write_transaction(context.engine) as conn:
        week_of_news(conn, now=datetime.now(SEOUL))
    add_subscribers(context.engine, 2, prefix="journey.reader")
    # The stories' feeds have made-up addresses: serve's scheduler must not poll them.
    pause_schedules(database_url, "poll")
    serve = start_cli("serve", "--host", "127.0.0.1", "--port", str(port), env=env, cwd=tmp_path)
    try:
        link = wait_for_output(serve, FIRST_ADMIN_LINK).group(1)
        wait_for_http(f"{base}/healthz", process=serve)
        yield base, link, context, env
    finally:
        print(stop(serve)[-4000:])
        context.close()


def log_in(page, base: str, email: str, next_path: str = "/admin") -> None:
    page.goto(f"{base}/admin/login?next={next_path}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}{next_path}*")


def fire_next_digest(context, *, now: datetime) -> list[dict]:
    """The digest's next fire time comes: a scheduler on a clock just past it fires it.

    The schedule's own next run (from the table serve's scheduler reloads) must be the
    first Tuesday 10:00 to come; the digest editions there are afterwards are returned.
    """
    [due, *_] = next_runs(context, "digest", now=now)
    assert due == next_weekday(now, 1, 10), due
    clock = FakeClock(due + timedelta(seconds=30))

    async def fire() -> None:
        await Scheduler(context, jobs=JOBS, clock=clock, instance="journey").fire("digest", due)

    # Playwright's sync API keeps an event loop on this thread; the scheduler gets its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(fire())).result()
    with context.engine.connect() as conn:
        rows = conn.execute(select(editions).where(editions.c.schedule == "digest"))
        return [dict(row) for row in rows.mappings()]


def digests_to(smtp_server, address: str) -> list:
    return [
        m.message
        for m in smtp_server.messages
        if m.rcpt_tos == [address] and m.message["Message-ID"].startswith("<e")
    ]


def test_a_new_staff_member_sets_up_edits_previews_tests_and_moves_the_weekly_send(
    installation, browser, smtp_server, screenshots
):
    base, link, context, env = installation
    shots = screenshots / "journey"
    shots.mkdir(parents=True, exist_ok=True)
    session = browser.new_context(locale="ko-KR", viewport={"width": 1024, "height": 900})
    page = session.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        # 1. The link `serve` printed creates the first admin; she logs in.
        page.goto(link)
        expect(page.locator("h1")).to_contain_text("첫 관리자 계정 만들기")
        page.fill("#email", ADMIN)
        page.fill("#password", PASSWORD)
        page.fill("#password_again", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url("**/admin/login**")
        log_in(page, base, ADMIN)
        page.screenshot(path=str(shots / "1-home.png"))

        # 2. One seminar session gets a new date.
        page.goto(f"{base}/admin/seminar")
        old_date = page.input_value("#sessions-0-date")
        new_date = (datetime.fromisoformat(old_date) + timedelta(days=5)).date().isoformat()
        page.fill("#sessions-0-date", new_date)
        page.fill("#note", "1회차 날짜 변경")
        with page.expect_navigation():
            page.click("form[action='/admin/seminar'] button[value=save]:not(.trap)")
        expect(page.locator("main")).to_contain_text("저장했습니다 (버전 2)")
        y, m, d = (int(part) for part in new_date.split("-"))
        new_date_words = f"{y}년 {m}월 {d}일"

        # 3. The greeting changes; both previews show it and the new session date.
        page.goto(f"{base}/admin/templates/digest.html.j2")
        expect(page.locator("#template-form .cm-editor")).to_be_visible()
        put_cursor_after(page, '<p class="intro">')
        page.keyboard.type(GREETING)
        frames_show(page, GREETING.strip())
        frames_show(page, new_date_words)
        page.screenshot(path=str(shots / "2-preview.png"))

        # 4. A mistake is refused at its line; fixed, the save becomes version 2.
        put_cursor_after(page, GREETING)
        page.keyboard.insert_text("{% if %}")
        page.click("#save")
        problem = page.locator("#save-problem")
        expect(problem).to_be_visible()
        line = problem.get_attribute("data-problem-line")
        assert line and int(line) > 1 and f"{line}" in problem.inner_text()
        page.screenshot(path=str(shots / "3-error.png"))
        put_cursor_after(page, GREETING + "{% if %}")
        for _ in "{% if %}":
            page.keyboard.press("Backspace")
        page.fill("#note", "인사말 추가")
        page.click("#save")
        expect(page.locator("#notice")).to_contain_text("버전 2")

        # 5. A test to herself arrives, with the new greeting.
        page.click("#test-send")
        expect(page.locator("#notice")).to_be_visible()
        wait_for(lambda: any(ADMIN in m.rcpt_tos for m in smtp_server.messages), timeout=30)
        test_mail = next(m.message for m in smtp_server.messages if ADMIN in m.rcpt_tos)
        assert test_mail["Subject"].startswith("[시험 발송]")
        assert GREETING.strip() in test_mail.get_body(("html",)).get_content()

        # 6. The weekly send moves from Monday 09:00 to Tuesday 10:00.
        page.goto(f"{base}/admin/schedules")
        card = page.locator("#schedule-digest")
        expect(card).to_contain_text("매주 월요일 오전 9:00")
        page.uncheck("#schedule-digest-mon")
        page.check("#schedule-digest-tue")
        page.fill("#schedule-digest-time", "10:00")
        page.click("#schedule-digest button[value=days]")
        expect(page.locator("#schedule-digest")).to_contain_text("매주 화요일 오전 10:00")
        page.screenshot(path=str(shots / "4-schedules.png"))

        # 7. An editor's account cannot send to the list.
        added = run_cli(
            "users",
            "add",
            EDITOR,
            "--role",
            "editor",
            "--password-stdin",
            env=env,
            cwd=context.settings.data_dir,
            stdin=PASSWORD,
        )
        assert added.returncode == 0, added.stderr
        editor_page = browser.new_context(locale="ko-KR").new_page()
        log_in(editor_page, base, EDITOR)
        assert "일정" not in editor_page.inner_text("nav.admin")
        refused = editor_page.goto(f"{base}/admin/schedules/send-now")
        assert refused.status == 403 and "권한이 없습니다" in editor_page.inner_text("main")
        editor_page.context.close()

        # 8. The audit log shows every step.
        page.goto(f"{base}/admin/audit")
        audit = page.inner_text("main")
        page.screenshot(path=str(shots / "5-audit.png"), full_page=True)
    finally:
        session.close()
    for action in (
        "staff.password_set",
        "staff.login",
        "seminar.save",
        "template.save",
        "template.test_send",
        "schedule.change",
        "user.add",
    ):
        assert action in audit, action
    assert not errors, errors

    # The next edition: made for Tuesday 10:00 with the new text, delivered by serve's worker.
    [edition] = fire_next_digest(context, now=datetime.now(SEOUL))
    due = edition["scheduled_for"]
    local = (due if due.tzinfo else due.replace(tzinfo=UTC)).astimezone(SEOUL)
    assert (local.weekday(), local.hour, local.minute) == (1, 10, 0)
    assert GREETING.strip() in edition["html"] and new_date_words in edition["html"]
    assert edition["template_versions"]["digest.html.j2"] == 2
    wait_for(lambda: len(digests_to(smtp_server, "journey.reader0@example.kr")) == 1, timeout=60)
    [delivered] = digests_to(smtp_server, "journey.reader0@example.kr")
    assert GREETING.strip() in delivered.get_body(("html",)).get_content()
    assert [entry["actor"] for entry in staff.recent_audit(context, prefix="digest.send_now")] == []

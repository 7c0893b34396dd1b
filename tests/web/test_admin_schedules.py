"""The schedules page over real HTTP: edit by days and a time or by cron, errors beside the field, pause, send now.

And the running scheduler picking up a change made on the page (the reload the
command line relies on, tests/schedules/test_runner.py), and who may do what.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from mailer import delivery
from mailer import subscribers as subscriptions
from mailer.models import EditionState
from mailer.schedules import Scheduler
from mailer.store.db import write_transaction
from mailer.store.suppressions import suppress
from mailer.store.tables import editions
from tests.digest_data import add_story
from tests.helpers import cli_env, run_cli
from tests.schedules.support import wait_for
from tests.web.admin_support import add_staff, admin_site, submit
from tests.web.serve_support import hidden

SEOUL = ZoneInfo("Asia/Seoul")
PAGE = "/admin/schedules"


def _card(page: str, name: str) -> str:
    """The article of one schedule in the page's HTML."""
    start = page.index(f'<article class="schedule" id="schedule-{name}"')
    return page[start : page.index("</article>", start)]


def _save(http, **fields):
    return submit(http, f"{PAGE}/save", form_page=PAGE, name="digest", **fields)


@pytest.fixture
def admin_http(make_settings, database_url):
    with admin_site(make_settings, database_url) as site:
        add_staff(site, "kim@example.kr", "admin")
        yield site, site.log_in("kim@example.kr")


def test_an_admin_moves_the_digest_from_monday_9_to_tuesday_10_by_days_and_time(admin_http):
    site, http = admin_http
    page = http.get(PAGE)
    assert page.status_code == 200
    card = _card(page.text, "digest")
    assert "주간 다이제스트 발송" in card and "매주 월요일 오전 9:00 (Asia/Seoul)" in card
    assert card.count("(월) 09:00 KST</li>") == 5
    assert "6시간" in card and "실행 중" in card
    assert 'value="mon" checked' in card and 'value="09:00"' in card
    for label in ("뉴스 수집", "재동의 안내", "오래된 데이터 정리"):
        assert label in page.text
    assert "지금 보내기" in card

    saved = http.post(
        f"{PAGE}/save",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "name": "digest",
            "days": "tue",
            "time": "10:00",
            "mode": "days",
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"].startswith(f"{PAGE}?done=saved&name=digest")
    after = _card(http.get(saved.headers["location"]).text, "digest")
    assert "매주 화요일 오전 10:00 (Asia/Seoul)" in after and "저장했습니다" in after
    assert after.count("(화) 10:00 KST</li>") == 5
    [entry] = site.audit("schedule.change")
    assert (entry["actor"], entry["target"], entry["client_address"]) == (
        "kim@example.kr",
        "schedule digest",
        "127.0.0.1",
    )
    assert entry["detail"]["before"]["cron"] == "0 9 * * mon"
    assert entry["detail"]["after"] == {
        "cron": "0 10 * * tue",
        "timezone": "Asia/Seoul",
        "grace_seconds": 6 * 3600,
        "enabled": True,
    }


def test_the_advanced_field_takes_a_cron_expression_and_htmx_gets_the_card_alone(admin_http):
    _site, http = admin_http
    page = http.get(PAGE)
    answer = http.post(
        f"{PAGE}/save",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "name": "poll",
            "cron": "*/15 * * * *",
            "timezone": "UTC",
            "mode": "cron",
        },
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    assert '<article class="schedule" id="schedule-poll"' in answer.text
    assert "<html" not in answer.text and "15분마다 (UTC)" in answer.text
    assert "15분마다 (UTC)" in _card(http.get(PAGE).text, "poll")


def test_a_bad_cron_is_explained_beside_its_field_with_the_cli_message_and_nothing_typed_lost(
    admin_http, database_url, tmp_path
):
    site, http = admin_http
    refused = _save(http, cron="0 9 * *", timezone="Asia/Seoul", mode="cron")
    assert refused.status_code == 422
    card = _card(refused.text, "digest")
    cli = run_cli(
        "schedules", "set", "digest", "0 9 * *",
        env=cli_env(MAILER_DATABASE_URL=database_url, MAILER_SECRET_KEY=site.context.settings.secret()),
        cwd=tmp_path,
    )  # fmt: skip
    assert cli.returncode != 0
    message = cli.stderr.strip().splitlines()[-1].removeprefix("error: ").strip()
    assert "expected 5" in message
    error = card[card.index('id="schedule-digest-cron-error">') :].split("</p>", 1)[0]
    error = html.unescape(error)
    assert "cron 식이 올바르지 않습니다." in error and message in error
    assert error.index("cron 식이") < error.index("invalid cron")  # Korean first
    assert 'value="0 9 * *"' in card and "<details open>" in card
    assert 'aria-invalid="true"' in card
    # A time that is no time, beside the time field; the chosen days stay chosen.
    wrong = _save(http, days="wed", time="25:00", mode="days")
    card = _card(wrong.text, "digest")
    assert wrong.status_code == 422 and 'id="schedule-digest-time-error"' in card
    assert "시각을 09:00처럼" in card and "hour must be between 0 and 23" in card
    assert 'value="wed" checked' in card and 'value="25:00"' in card
    assert site.audit("schedule.change") == []
    assert "매주 월요일 오전 9:00" in _card(http.get(PAGE).text, "digest")


def test_pause_and_resume_are_buttons_on_the_card_and_audited(admin_http):
    site, http = admin_http
    paused = submit(http, f"{PAGE}/pause", form_page=PAGE, name="digest")
    assert paused.status_code == 303
    card = _card(http.get(paused.headers["location"]).text, "digest")
    assert "일시 중지했습니다" in card and "예정된 실행이 없습니다" in card
    assert "다시 실행" in card
    resumed = submit(http, f"{PAGE}/resume", form_page=PAGE, name="digest")
    card = _card(http.get(resumed.headers["location"]).text, "digest")
    assert "(월) 09:00 KST</li>" in card
    assert [row["detail"]["after"]["enabled"] for row in site.audit("schedule.pause")] == [False]
    assert [row["detail"]["after"]["enabled"] for row in site.audit("schedule.resume")] == [True]


def seed_news_and_readers(ctx) -> None:
    """Two stories of this week, three readers who receive it, and three who do not."""
    now = datetime.now(UTC)
    with write_transaction(ctx.engine) as conn:
        add_story(conn, "today", title="시흥 바이오 특화단지 지정", now=now)
        add_story(conn, "yesterday", title="배곧 연구단지 착공", now=now - timedelta(days=1))
    for number in range(1, 5):
        subscriptions.add_subscriber(
            ctx, f"reader{number}@example.kr", confirmed=True, notify=False
        )
    subscriptions.add_subscriber(ctx, "pending@example.kr", confirmed=False, notify=False)
    with write_transaction(ctx.engine) as conn:  # active, but its address is suppressed
        suppress(conn, ctx.keys.address_key("reader4@example.kr"), reason="test", at=now)


def test_send_now_states_its_counts_then_creates_and_queues_the_edition(admin_http):
    site, http = admin_http
    seed_news_and_readers(site.context)
    confirm = http.get(f"{PAGE}/send-now")
    assert confirm.status_code == 200
    assert "구독자 3명에게 기사 2건을 지금 보냅니다. 계속할까요?" in confirm.text
    assert "취소" in confirm.text
    sent = submit(http, f"{PAGE}/send-now", form_page=f"{PAGE}/send-now")
    assert sent.status_code == 303
    done = http.get(sent.headers["location"])
    assert "제1호를 만들어 구독자 3명에게 보내도록 발송 대기열에 넣었습니다" in done.text
    status = delivery.edition_status(site.context, delivery.edition_id_for(site.context, 1))
    assert status.state == EditionState.QUEUED
    assert status.counts.by_state == {"queued": 4}  # the suppressed one is skipped at send time
    [entry] = site.audit("digest.send_now")
    assert entry["actor"] == "kim@example.kr" and entry["target"] == "edition 1"
    assert entry["detail"]["after"] == {
        "edition": 1,
        "subscribers": 3,
        "stories": 2,
        "deliveries_queued": 4,
    }
    # While edition 1 is queued the confirmation says why nothing more can go.
    busy = http.get(f"{PAGE}/send-now")
    assert "제1호가 아직 발송 중입니다" in busy.text and "보내기</button>" not in busy.text


def test_send_now_refuses_when_there_is_no_news(admin_http):
    site, http = admin_http
    page = http.get(f"{PAGE}/send-now")
    assert page.status_code == 200 and "지금은 보낼 수 없습니다" in page.text
    assert "보내기</button>" not in page.text
    refused = submit(http, f"{PAGE}/send-now", form_page=f"{PAGE}/send-now")
    assert refused.status_code == 422 and site.audit("digest.send_now") == []


def test_an_editor_cannot_open_the_page_change_a_schedule_or_send_to_the_list(
    make_settings, database_url
):
    with admin_site(make_settings, database_url) as site:
        add_staff(site, "lee@example.kr", "editor")
        seed_news_and_readers(site.context)
        http = site.log_in("lee@example.kr")
        token = hidden(http.get("/admin").text, "csrf_token")
        assert "/admin/schedules" not in http.get("/admin").text
        for method, path, data in [
            ("GET", PAGE, {}),
            ("GET", f"{PAGE}/send-now", {}),
            ("POST", f"{PAGE}/send-now", {}),
            ("POST", f"{PAGE}/save", {"name": "digest", "time": "25:00"}),
            ("POST", f"{PAGE}/pause", {"name": "digest"}),
        ]:
            answer = http.request(
                method,
                path,
                data={"csrf_token": token, **data} if data or method == "POST" else None,
            )
            assert answer.status_code == 403 and "권한이 없습니다" in answer.text, path
        with site.context.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(editions)).scalar_one() == 0
        assert site.audit("schedule.pause") == [] and site.audit("digest.send_now") == []


async def test_the_running_scheduler_picks_up_a_change_made_on_the_page(
    make_settings, database_url
):
    fast = {"reload_seconds": 0.05, "heartbeat_seconds": 0.05, "stop_timeout": 5}
    with admin_site(make_settings, database_url, scheduler=fast) as site:
        add_staff(site, "kim@example.kr", "admin")
        http = site.log_in("kim@example.kr")
        engine = Scheduler(site.context, jobs={})
        await engine.start()
        try:
            monday = engine.next_run_time("digest")
            assert (monday.astimezone(SEOUL).weekday(), monday.astimezone(SEOUL).hour) == (0, 9)
            saved = _save(http, days="tue", time="10:00", mode="days")
            assert saved.status_code == 303
            await wait_for(lambda: engine.next_run_time("digest") != monday)
            tuesday = engine.next_run_time("digest").astimezone(SEOUL)
            assert (tuesday.weekday(), tuesday.hour, tuesday.minute) == (1, 10, 0)
            assert timedelta(0) < tuesday - datetime.now(SEOUL) <= timedelta(days=7)
        finally:
            await engine.stop()

"""Schedules in words staff read, and schedules built from chosen days and a time (issue 12 item 6)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailer.errors import InvalidInputError
from mailer.schedules import cron_for, cron_trigger, describe_cron, next_fire_times

KOREAN = [
    ("0 9 * * mon", "매주 월요일 오전 9:00"),
    ("0 10 * * tue", "매주 화요일 오전 10:00"),
    ("30 14 * * mon,wed,fri", "매주 월·수·금요일 오후 2:30"),
    ("0 9 * * mon-fri", "평일(월~금) 오전 9:00"),
    ("0 0 * * sun", "매주 일요일 오전 12:00"),
    ("0 12 * * sat", "매주 토요일 오후 12:00"),
    ("5 3 * * *", "매일 오전 3:05"),
    ("0 8 * * mon-sun", "매일 오전 8:00"),
    ("0 18 * * fri-mon", "매주 월·금·토·일요일 오후 6:00"),
    ("*/30 * * * *", "30분마다"),
    ("0 */2 * * *", "2시간마다 정각"),
    ("15 * * * *", "매시 15분"),
    ("0 * * * *", "매시 정각"),
    ("0 9 1 * *", "매월 1일 오전 9:00"),
]


@pytest.mark.parametrize(("cron", "words"), KOREAN)
def test_a_schedule_is_said_in_korean(cron, words):
    assert describe_cron(cron) == words


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 9 * * mon", "Every Monday at 09:00"),
        ("0 9 * * mon,thu", "Every Monday and Thursday at 09:00"),
        ("0 9 * * mon-fri", "Every weekday (Monday–Friday) at 09:00"),
        ("*/30 * * * *", "Every 30 minutes"),
        ("0 9 15 * *", "Monthly on day 15 at 09:00"),
    ],
)
def test_a_schedule_is_said_in_english(cron, words):
    assert describe_cron(cron, language="en") == words


@pytest.mark.parametrize(
    "cron",
    ["0 9 * 1 mon", "0 9 1 * mon", "0 9-17 * * *", "0,30 9 * * mon", "0 9 * *", "0 25 * * *"],
)
def test_a_shape_not_said_in_words_answers_none(cron):
    # The caller then shows the expression itself, never a wrong sentence.
    assert describe_cron(cron) is None


def test_days_and_a_time_become_a_cron_that_fires_then():
    cron = cron_for(["tue"], hour=10, minute=0)
    assert cron == "0 10 * * tue"
    assert describe_cron(cron) == "매주 화요일 오전 10:00"
    trigger = cron_trigger(cron, "Asia/Seoul")
    runs = next_fire_times(trigger, after=datetime(2026, 12, 1, tzinfo=UTC), count=5)
    assert [(run.strftime("%a %H:%M"), str(run.tzinfo)) for run in runs] == [
        ("Tue 10:00", "Asia/Seoul")
    ] * 5


def test_chosen_days_are_said_in_week_order_and_all_days_mean_every_day():
    assert cron_for(["fri", "mon"], hour=9, minute=30) == "30 9 * * mon,fri"
    assert cron_for(["Monday", "tue", "wed", "thu", "fri", "sat", "sun"], hour=7, minute=0) == (
        "0 7 * * *"
    )
    assert cron_for([], hour=7, minute=0) == "0 7 * * *"


@pytest.mark.parametrize(
    ("days", "hour", "minute", "field"),
    [(["mon"], 24, 0, "hour"), (["mon"], 9, 60, "minute"), (["someday"], 9, 0, "days")],
)
def test_a_bad_choice_names_its_field(days, hour, minute, field):
    with pytest.raises(InvalidInputError) as caught:
        cron_for(days, hour=hour, minute=minute)
    assert caught.value.field == field

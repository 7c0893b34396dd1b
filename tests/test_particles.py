"""Korean particles after inserted names (issue 15 item 7): the final sound decides, Latin letters and digits included."""

from __future__ import annotations

import pytest

from mailer.particles import particle_for, with_particle


@pytest.mark.parametrize(
    ("word", "particle", "expected"),
    [
        # Hangul: a final consonant, an open syllable, and ㄹ before 으로/로.
        ("(재)시흥산업진흥원", "이/가", "(재)시흥산업진흥원이"),
        ("시흥 바이오산업 주간 뉴스", "을", "시흥 바이오산업 주간 뉴스를"),
        ("바이오산업 주간 소식", "를", "바이오산업 주간 소식을"),
        ("한국공학대학교", "은", "한국공학대학교는"),
        ("미래전략산업실", "와", "미래전략산업실과"),
        ("부산", "로", "부산으로"),
        ("학교", "으로", "학교로"),
        ("서울", "으로", "서울로"),  # ㄹ takes 로
        # Glosses and brackets: what is read aloud decides.
        ("시흥산업진흥원(재)", "이", "시흥산업진흥원(재)이"),
        ("세미나 (Seminar)", "를", "세미나 (Seminar)를"),
        ("「시흥 바이오 세미나」", "은", "「시흥 바이오 세미나」는"),
        ('"바이오 뉴스"', "가", '"바이오 뉴스"가'),
        ("(재)", "이", "(재)가"),
        # Digits in Sino-Korean: 삼, 이, 십, 천, 이만, 일조.
        ("제3", "은", "제3은"),
        ("2", "은", "2는"),
        ("10", "이", "10이"),
        ("1,000", "를", "1,000을"),
        ("20000", "과", "20000과"),
        ("1000000000000", "이", "1000000000000가"),
        ("COVID-19", "은", "COVID-19는"),
        ("7", "으로", "7로"),  # 칠: ㄹ
        ("6", "으로", "6으로"),  # 육
        # Latin: acronyms by letter names, words by their Korean spelling.
        ("KT", "은", "KT는"),
        ("LG", "이", "LG가"),
        ("CJ ENM", "는", "CJ ENM은"),
        ("URL", "로", "URL로"),  # 알
        ("Google", "은", "Google은"),
        ("Google", "으로", "Google로"),
        ("Samsung", "를", "Samsung을"),
        ("Office", "이", "Office가"),
        ("Slack", "와", "Slack과"),
        ("Facebook", "는", "Facebook은"),
        ("Siheung Industry Promotion Agency", "는", "Siheung Industry Promotion Agency는"),
        ("Online", "로", "Online으로"),
        # Unreadable endings keep the written-out pair rather than guess.
        ("漢字", "이", "漢字이(가)"),
        ("🧬", "을", "🧬을(를)"),
        ("", "은", "은(는)"),
    ],
)
def test_the_particle_follows_the_last_sound(word, particle, expected):
    assert with_particle(word, particle) == expected


def test_any_spelling_of_a_pair_names_it_and_an_unknown_particle_is_refused():
    assert {particle_for("시흥", p) for p in ("이", "가", "이/가", "가/이")} == {"이"}
    with pytest.raises(ValueError, match="unknown particle '의'"):
        with_particle("시흥", "의")

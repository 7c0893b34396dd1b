"""Story identity: canonical URLs, uid order (link → guid → hash) and near-duplicate cluster keys."""

from __future__ import annotations

import pytest

from mailer.feeds.dedupe import (
    canonical_url,
    clean_link,
    cluster_key,
    content_hash,
    story_uid,
    strip_decorations,
    title_key,
)


@pytest.mark.parametrize(
    ("link", "canonical"),
    [
        ("HTTPS://News.Example.KR/a/b", "https://news.example.kr/a/b"),
        ("https://news.example.kr:443/a", "https://news.example.kr/a"),
        ("http://news.example.kr:80/a", "http://news.example.kr/a"),
        ("http://news.example.kr:8080/a", "http://news.example.kr:8080/a"),
        ("https://news.example.kr/a#comments", "https://news.example.kr/a"),
        ("https://news.example.kr", "https://news.example.kr/"),
        (
            "https://news.example.kr/view?idxno=7&utm_source=rss&utm_medium=feed&utm_campaign=x",
            "https://news.example.kr/view?idxno=7",
        ),
        (
            "https://news.example.kr/view?fbclid=IwAR0&gclid=1&msclkid=2&mc_eid=3&idxno=7",
            "https://news.example.kr/view?idxno=7",
        ),
        ("https://news.example.kr/view?b=2&a=1", "https://news.example.kr/view?a=1&b=2"),
        ("https://user:pw@news.example.kr/a", "https://news.example.kr/a"),
    ],
)
def test_canonical_url(link, canonical):
    assert canonical_url(link) == canonical


def test_clean_link_drops_trackers_but_keeps_order_and_fragment():
    assert (
        clean_link("https://n.example.kr/a?id=3&utm_campaign=x&x=1#c")
        == "https://n.example.kr/a?id=3&x=1#c"
    )
    assert clean_link("https://n.example.kr/a") == "https://n.example.kr/a"


def test_uid_prefers_link_then_guid_then_content_hash():
    digest = content_hash("제목", "본문")
    assert (
        story_uid(link="https://a.example/x?utm_source=rss", guid="g-1", digest=digest)
        == "https://a.example/x"
    )
    assert story_uid(link=None, guid="  g-1 ", digest=digest) == "guid:g-1"
    assert story_uid(link=None, guid=None, digest=digest) == f"sha256:{digest}"
    assert story_uid(link=None, guid="", digest=digest) == f"sha256:{digest}"


def test_very_long_links_and_guids_become_hashes():
    long_link = "https://a.example/" + "x" * 3000
    uid = story_uid(link=long_link, guid=None, digest="d")
    assert uid.startswith("url-sha256:") and len(uid) < 100
    assert story_uid(link=None, guid="g" * 3000, digest="d").startswith("guid-sha256:")


def test_content_hash_ignores_case_width_and_spacing():
    assert content_hash("Bio  News", "ＦＤＡ approves") == content_hash("bio news", "fda approves")
    assert content_hash("Bio News", "a") != content_hash("Bio News", "b")


REPRINTS = [
    "[속보] 美 FDA, 셀트리온 항체 바이오시밀러 품목허가",
    "[단독] 미국 FDA, 셀트리온 항체 바이오시밀러 품목허가 - 약업신문",
    "미 FDA, 셀트리온 항체 바이오시밀러 품목허가(종합2보)",
    "【포토】 美FDA, 셀트리온 ‘항체 바이오시밀러’ 품목허가 | 메디파나뉴스",
    "<속보> 미국 FDA, 셀트리온 항체 바이오시밀러 품목허가 (연합뉴스)",
    "[헬스케어 속보] 美 FDA, 셀트리온 항체 바이오시밀러 품목허가…",
]


@pytest.mark.parametrize("title", REPRINTS[1:])
def test_reprints_share_a_cluster_key(title):
    assert cluster_key(title, uid="b") == cluster_key(REPRINTS[0], uid="a")


@pytest.mark.parametrize(
    "other",
    [
        "美 FDA, 삼성바이오에피스 항체 바이오시밀러 품목허가",
        "유럽 EMA, 셀트리온 항체 바이오시밀러 품목허가",
        "[속보] 美 FDA, 셀트리온 항체 바이오시밀러 허가 거절",
    ],
)
def test_different_news_keeps_its_own_cluster(other):
    assert cluster_key(other, uid="b") != cluster_key(REPRINTS[0], uid="a")


def test_english_outlet_suffixes_are_removed():
    assert title_key("Moderna wins FDA nod for flu shot - Reuters") == title_key(
        "Moderna wins FDA nod for flu shot | Fierce Biotech"
    )


def test_outlet_names_passed_in_are_recognised():
    plain = strip_decorations(
        "셀트리온 미국 허가 :: 시흥산업진흥원 소식", outlets=["시흥산업진흥원 소식"]
    )
    assert plain == "셀트리온 미국 허가"


def test_a_bracket_that_is_content_is_kept():
    # "(주)" and a company name in brackets are part of the headline, not desk tags.
    assert title_key("[셀트리온] 실적 발표") != title_key("[삼성바이오로직스] 실적 발표")
    assert "주" in title_key("(주)셀트리온 실적 발표")


def test_a_subtitle_after_a_dash_is_not_mistaken_for_an_outlet():
    assert title_key("셀트리온 - 미국 진출 본격화") != title_key("셀트리온 - 유럽 진출 본격화")


def test_titles_too_short_to_compare_cluster_alone():
    assert cluster_key("[속보]", uid="a") != cluster_key("[속보]", uid="b")
    assert cluster_key("", uid="a").startswith("u:")

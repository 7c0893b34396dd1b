"""Relevance scoring: Korean substrings, English word boundaries, weights, include and exclude lists."""

from __future__ import annotations

from mailer.feeds.relevance import (
    DEFAULT_KEYWORDS,
    Matcher,
    build_rules,
    compile_rules,
    parse_keyword_list,
)


def rules(**kw):
    kw.setdefault("use_defaults", True)
    kw.setdefault("min_score", 3)
    return compile_rules(build_rules(**kw))


def test_default_set_covers_the_core_korean_and_english_terms():
    words = {word.rstrip("*").casefold() for word, _ in DEFAULT_KEYWORDS}
    for required in [
        "바이오",
        "제약",
        "신약",
        "의약품",
        "임상",
        "의료기기",
        "재생의료",
        "바이오헬스",
        "진단",
        "백신",
        "항체",
        "세포치료",
        "biotech",
        "pharma",
        "fda",
        "clinical",
        "vaccin",
        "antibod",
        "gene therap",
        "crispr",
        "mrna",
    ]:
        assert required in words, required


def test_korean_keywords_match_with_particles_and_any_spacing():
    matcher = Matcher(["신약", "바이오 의약품"])
    assert matcher.find("신약을 개발했다") == {"신약"}
    assert matcher.find("바이오의약품 수출") == {"바이오 의약품"}
    assert matcher.find("바이오  의약품 수출") == {"바이오 의약품"}


def test_english_keywords_match_whole_words_plurals_and_prefixes():
    matcher = Matcher(["FDA", "ADC", "vaccin*", "gene therap*"])
    assert matcher.find("The FDA's decision") == {"FDA"}
    assert matcher.find("FDA-approved drug") == {"FDA"}
    assert matcher.find("FDAX index") == set()
    assert matcher.find("two ADCs in the clinic") == {"ADC"}
    assert matcher.find("Vaccination rates; new vaccines") == {"vaccin*"}
    assert matcher.find("gene-therapies for rare disease") == {"gene therap*"}
    assert matcher.find("ＦＤＡ full width") == {"FDA"}


def test_longer_keyword_wins_where_two_overlap():
    matcher = Matcher(["바이오", "바이오의약품"])
    assert matcher.find("바이오의약품") == {"바이오의약품"}
    assert matcher.find("바이오의약품과 바이오 벤처") == {"바이오의약품", "바이오"}


def test_title_hits_count_double_and_decide_relevance():
    scorer = rules()
    in_title = scorer.score("독감 백신 허가", "")
    in_text = scorer.score("독감 소식", "백신 허가")
    assert in_title.score == 2 * in_text.score
    assert in_title.relevant
    assert not in_text.relevant  # one weight-2 word in the summary alone is not enough
    assert in_title.matched == ("백신",)
    # The most specific terms (weight 3) decide on their own wherever they appear.
    assert scorer.score("회사 소식", "신약 후보물질 공개").relevant


def test_an_ambiguous_word_alone_is_not_relevant():
    assert not rules().score("하반기 경제 진단", "전문가들이 경기를 진단했다").relevant


def test_unrelated_story_scores_zero():
    result = rules().score("주말 날씨: 전국 맑고 쌀쌀", "기상청은 맑겠다고 밝혔다.")
    assert result.score == 0 and not result.relevant and result.matched == ()


def test_more_keywords_rank_higher():
    scorer = rules()
    one = scorer.score("신약 개발 소식", "")
    two = scorer.score("FDA, 항체 신약 임상 3상 승인", "")
    assert two.score > one.score


def test_exclude_keywords_win_over_any_score():
    scorer = rules(exclude=["광고"], feed_exclude=["투자설명회"])
    assert not scorer.score("[광고] 바이오 신약 투자설명회", "").relevant
    assert not scorer.score("바이오 신약 투자설명회 안내", "").relevant
    assert scorer.score("바이오 신약 투자설명회 안내", "").excluded_by == ("투자설명회",)


def test_staff_keywords_alone_make_a_story_relevant():
    scorer = rules(include=["시흥산업진흥원"], feed_include=["세미나"])
    assert scorer.score("시흥산업진흥원 소식", "").relevant
    assert scorer.score("지역 행사", "다음 달 세미나 개최").relevant


def test_defaults_can_be_switched_off():
    scorer = rules(use_defaults=False, include=["semiconductor"])
    assert not scorer.score("바이오 신약 임상", "").relevant
    assert scorer.score("semiconductor fab", "").relevant


def test_keyword_lists_from_the_command_line():
    assert parse_keyword_list(["항암, ADC", "ADC", " 세포치료 ", ","]) == [
        "항암",
        "ADC",
        "세포치료",
    ]
    assert parse_keyword_list(None) == []

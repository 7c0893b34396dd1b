"""Plain text for mail readers: display columns, wrapping Korean, summaries."""

from __future__ import annotations

from mailer.render.text import display_width, plain_summary, tidy_text, wrap_line


def test_display_width_counts_korean_as_two_columns():
    assert display_width("abc") == 3
    assert display_width("바이오") == 6
    assert display_width("ＡＢ") == 4  # fullwidth Latin
    assert display_width("e\u0301") == 1  # a combining accent takes no column


def test_text_wraps_korean_by_columns_and_keeps_urls_whole():
    line = (
        "   " + "시흥시가 배곧신도시 일대를 바이오 특화단지로 지정받기 위해 공모에 신청했다. " * 2
    )
    wrapped = wrap_line(line.rstrip(), width=40)
    assert len(wrapped) > 2
    assert all(display_width(part) <= 40 for part in wrapped)
    assert all(part.startswith("   ") for part in wrapped)  # hanging indent kept
    assert " ".join(part.strip() for part in wrapped) == line.strip()
    url = "https://news.example.kr/" + "a" * 80
    wrapped = wrap_line(f"   원문: {url}", width=40)
    assert wrapped == ["   원문:", f"   {url}"]


def test_list_items_keep_a_hanging_indent():
    wrapped = wrap_line("12. " + "바이오 " * 20, width=30)
    assert wrapped[0].startswith("12. 바이오")
    assert all(part.startswith("    ") for part in wrapped[1:])
    assert all(display_width(part) <= 30 for part in wrapped)


def test_a_long_run_of_hangul_without_spaces_breaks_between_characters():
    wrapped = wrap_line("가" * 50, width=20)
    assert [display_width(part) for part in wrapped] == [20, 20, 20, 20, 20]


def test_tidy_text_collapses_blank_lines_and_trailing_spaces():
    assert tidy_text("a  \n\n\n\nb\n\n", width=72) == "a\n\nb\n"


def test_plain_summary_drops_markup_and_cuts_at_a_word():
    summary = (
        "<p>한국공학대 연구팀이 <b>네이처</b>에 논문을&nbsp;실었다.</p><p>두 번째 &amp; 문단</p>"
    )
    assert (
        plain_summary(summary, limit=200)
        == "한국공학대 연구팀이 네이처에 논문을 실었다. 두 번째 & 문단"
    )
    cut = plain_summary("바이오 산업 " * 40, limit=50)
    assert cut.endswith("…") and len(cut) <= 51
    assert not cut[:-1].endswith(" ")
    assert plain_summary("anything", limit=0) == ""

"""Personal-field markers: filled with escaping for HTML, never forged by feed text."""

from __future__ import annotations

from mailer.models import PersonalField
from mailer.render.markers import defuse_markers, fill_personal_fields


def test_fill_personal_fields_escapes_values_for_html():
    part = '<a href="%%MAILER_UNSUBSCRIBE_URL%%">x</a> %%MAILER_NAME%% %%MAILER_EMAIL%%'
    values = {
        PersonalField.UNSUBSCRIBE_URL: "https://n.example.kr/unsubscribe/abc",
        PersonalField.NAME: 'Kim "<b>"',
    }
    filled = fill_personal_fields(part, values, html=True)
    assert filled == (
        '<a href="https://n.example.kr/unsubscribe/abc">x</a> Kim &quot;&lt;b&gt;&quot; '
    )
    assert fill_personal_fields("%%MAILER_NAME%%님", values, html=False) == 'Kim "<b>"님'


def test_feed_text_cannot_forge_a_marker():
    forged = "무료 %%MAILER_UNSUBSCRIBE_URL%% 클릭"
    defused = defuse_markers(forged)
    assert PersonalField.UNSUBSCRIBE_URL.marker not in defused
    filled = fill_personal_fields(
        defused, {PersonalField.UNSUBSCRIBE_URL: "https://secret"}, html=False
    )
    assert "https://secret" not in filled
    assert filled.replace("\u200b", "") == forged  # reads the same

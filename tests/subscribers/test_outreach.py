"""Signup material: the tagged signup URL, the source a tagged signup records, the embeddable form."""

from __future__ import annotations

import pytest

from mailer import subscribers as subscriptions
from mailer.errors import InvalidInputError


@pytest.mark.parametrize(
    ("tag", "source"),
    [
        ("poster-2026", "web:poster-2026"),
        ("a.b_c", "web:a.b_c"),
        ("", "web"),
        ("a b<", "web"),
        ("포스터", "web"),  # only the ASCII tags signup_url writes
        ("x" * 41, "web"),
    ],
)
def test_a_tag_of_ours_becomes_the_source_and_any_other_is_dropped(tag, source):
    assert subscriptions.signup_source(tag) == source


def test_the_url_and_the_form_carry_the_tag_and_refuse_a_malformed_one(make_settings):
    settings = make_settings(base_url="https://news.example.or.kr")
    assert subscriptions.signup_url(settings) == "https://news.example.or.kr/subscribe"
    tagged = subscriptions.signup_url(settings, source="poster-2026")
    assert tagged == "https://news.example.or.kr/subscribe?src=poster-2026"
    for bad in ("a b<", "포스터", "x" * 41):
        with pytest.raises(InvalidInputError) as refused:
            subscriptions.signup_url(settings, source=bad)
        assert refused.value.field == "source"

    form = subscriptions.signup_form_snippet(settings, lang="en", source="site")
    assert 'action="https://news.example.or.kr/subscribe"' in form and 'lang="en"' in form
    assert 'name="src" value="site"' in form and "Email address" in form
    with pytest.raises(InvalidInputError) as refused:
        subscriptions.signup_form_snippet(settings, lang="fr")
    assert refused.value.field == "lang"

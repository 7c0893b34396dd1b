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


def test_the_qr_code_is_png_or_svg_bytes_of_the_tagged_url(make_settings):
    import xml.etree.ElementTree as ET

    settings = make_settings(base_url="https://news.example.or.kr")
    png = subscriptions.signup_qr(settings, fmt="png", source="poster-2026")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 200
    assert len(subscriptions.signup_qr(settings, fmt="png", scale=20)) > len(
        subscriptions.signup_qr(settings, fmt="png", scale=2)
    )
    root = ET.fromstring(subscriptions.signup_qr(settings, fmt="svg", source="poster-2026"))
    title = root.find("{http://www.w3.org/2000/svg}title")
    assert title.text == "https://news.example.or.kr/subscribe?src=poster-2026"
    assert root.find("{http://www.w3.org/2000/svg}path") is not None


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"fmt": "gif"}, "fmt"),
        ({"fmt": "png", "scale": 0}, "scale"),
        ({"fmt": "svg", "scale": 101}, "scale"),
        ({"fmt": "png", "source": "a b<"}, "source"),
    ],
)
def test_the_qr_code_refuses_a_bad_format_scale_or_tag(make_settings, options, field):
    with pytest.raises(InvalidInputError) as refused:
        subscriptions.signup_qr(make_settings(), **options)
    assert refused.value.field == field

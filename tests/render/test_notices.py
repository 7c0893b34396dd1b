"""Notice mails render through the sandbox with the whitespace their templates are written for."""

from __future__ import annotations

import pytest

from mailer.errors import TemplateError
from mailer.render import notice_renderer, render_notice


def write(directory, **files: str) -> None:
    email = directory / "email"
    email.mkdir(exist_ok=True)
    for name, source in files.items():
        (email / name).write_text(source, encoding="utf-8")


def test_the_subject_comes_from_the_text_template_and_block_lines_are_kept(tmp_path):
    write(
        tmp_path,
        **{
            "hello.txt.j2": '{% set subject = "[" ~ list_name ~ "] 안녕" %}\n'
            "안녕하세요{% if name %} {{ name }}님{% endif %},\n"
            "{% if url %}설정: {{ url }}\n{% endif %}\n끝\n",
            "hello.html.j2": "<p>{{ name }}</p>\n",
        },
    )
    variables = {"list_name": "소식", "name": "<b>홍</b>", "url": "https://x.example/p"}
    notice = render_notice(
        notice_renderer(tmp_path / "email", max_bytes=1_000_000), "hello", variables
    )
    assert notice.subject == "[소식] 안녕"
    # Jinja's default whitespace: the newline after {% endif %} stays.
    assert notice.text == "안녕하세요 <b>홍</b>님,\n설정: https://x.example/p\n\n끝\n"
    assert notice.html == "<p>&lt;b&gt;홍&lt;/b&gt;</p>\n"


def test_a_notice_without_a_subject_or_with_an_error_is_a_template_error(tmp_path):
    write(tmp_path, **{"bare.txt.j2": "본문\n", "bare.html.j2": "<p>x</p>\n"})
    with pytest.raises(TemplateError, match="does not set a subject"):
        render_notice(notice_renderer(tmp_path / "email", max_bytes=1_000_000), "bare", {})
    write(tmp_path, **{"broken.txt.j2": '{% set subject = "s" %}\n{{ missing }}\n'})
    with pytest.raises(TemplateError, match="'missing' is undefined") as caught:
        render_notice(notice_renderer(tmp_path / "email", max_bytes=1_000_000), "broken", {})
    assert caught.value.template == "broken.txt.j2"


def test_notices_get_the_sandbox_too(tmp_path):
    write(tmp_path, **{"evil.txt.j2": '{% set subject = "s" %}{{ "".__class__.__mro__ }}'})
    with pytest.raises(TemplateError, match="unsafe|undefined"):
        render_notice(notice_renderer(tmp_path / "email", max_bytes=1_000_000), "evil", {})

"""The sandbox: refusals, escaping, error reports with line numbers, output cap, CSS inlining.

Every case renders through the public MailRenderer, so in a render process: the
errors, their template names and lines, and the output come back across the pipe
exactly as the sandbox made them.
"""

from __future__ import annotations

import pytest
from markupsafe import Markup

from mailer.errors import TemplateError
from mailer.models import PersonalField
from mailer.render import MailRenderer, RenderPool
from mailer.render.markers import MARKER_VARIABLES

_POOL: RenderPool | None = None


@pytest.fixture(autouse=True, scope="module")
def _shared_pool():
    global _POOL
    with RenderPool() as pool:
        _POOL = pool
        yield
    _POOL = None


def renderer(**templates: str) -> MailRenderer:
    return MailRenderer(None, overrides=templates, max_bytes=20_000, pool=_POOL)


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__",
        "''.__class__.__mro__[1].__subclasses__()",
        "cycler.__init__.__globals__",
        "joiner.__init__.__globals__.os",
        "self._TemplateReference__context",
        "namespace.__init__.__globals__",
        "(1).__class__.__base__",
        "lipsum.__globals__",
    ],
)
def test_the_sandbox_refuses_reaching_python_internals(expression):
    with pytest.raises(TemplateError) as caught:
        renderer(**{"t.html.j2": "<p>ok</p>\n{{ " + expression + " }}\n"}).render("t.html.j2", {})
    assert caught.value.template == "t.html.j2"
    assert caught.value.line == 2
    assert "unsafe" in str(caught.value) or "undefined" in str(caught.value)


def test_the_sandbox_refuses_mutating_the_context():
    with pytest.raises(TemplateError, match="refused by the sandbox") as caught:
        renderer(**{"t.txt.j2": "a\nb\n{{ items.append(3) }}"}).render("t.txt.j2", {"items": [1]})
    assert caught.value.line == 3


def test_a_syntax_error_names_template_and_line():
    source = "<p>{{ edition.number }}</p>\n{% for story in stories %}\n<p>{{ story.title }}</p>\n"
    with pytest.raises(TemplateError) as caught:
        renderer(**{"digest.html.j2": source}).render("digest.html.j2", {"edition": {"number": 1}})
    error = caught.value
    assert error.template == "digest.html.j2"
    assert error.line == 3  # the unclosed for-loop is noticed at the end
    assert str(error).startswith("digest.html.j2, line 3: ")
    assert "endfor" in str(error)


def test_an_undefined_name_is_reported_with_its_line_in_the_included_template():
    templates = {
        "digest.html.j2": "<h1>{{ list_name }}</h1>\n{% include 'footer.html.j2' %}\n",
        "footer.html.j2": "<p>주소</p>\n<p>{{ sender.phone }}</p>\n<p>{{ sender.fax }}</p>\n",
    }
    context = {"list_name": "뉴스", "sender": {"phone": "070"}}
    with pytest.raises(TemplateError) as caught:
        renderer(**templates).render("digest.html.j2", context)
    error = caught.value
    assert (error.template, error.line) == ("footer.html.j2", 3)
    assert "'dict object' has no attribute 'fax'" in str(error)
    with pytest.raises(TemplateError) as caught:
        renderer(**{"s.j2": "제목\n{{ editon.number }}"}).render("s.j2", {"edition": {}})
    assert caught.value.line == 2
    assert "'editon' is undefined" in str(caught.value)
    assert "does not receive" in str(caught.value)


def test_a_missing_template_is_a_template_error():
    with pytest.raises(TemplateError, match="not found"):
        renderer().render("digest.html.j2", {})
    with pytest.raises(TemplateError, match="not found"):
        MailRenderer(None).render("../../etc/passwd", {})
    with pytest.raises(TemplateError, match="'footer.j2' not found") as caught:
        renderer(**{"t.j2": "a\n{% include 'footer.j2' %}"}).render("t.j2", {})
    assert (caught.value.template, caught.value.line) == ("t.j2", 2)


def test_html_is_autoescaped_and_text_is_not():
    hostile = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    templates = {"t.html.j2": "<p>{{ title }}</p>", "t.txt.j2": "{{ title }}"}
    html = renderer(**templates).render("t.html.j2", {"title": hostile})
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img" in html
    assert renderer(**templates).render("t.txt.j2", {"title": hostile}) == hostile


def test_escaping_cannot_be_switched_off_by_a_template():
    with pytest.raises(TemplateError, match="No filter named 'safe'") as caught:
        renderer(**{"t.html.j2": "x\n{{ title|safe }}"}).render("t.html.j2", {"title": "<b>"})
    assert caught.value.line == 2
    source = "x\n\n{% autoescape false %}{{ title }}{% endautoescape %}"
    with pytest.raises(TemplateError, match="autoescape") as caught:
        renderer(**{"t.html.j2": source}).render("t.html.j2", {"title": "<b>"})
    assert caught.value.line == 3


@pytest.mark.parametrize(
    "value",
    [Markup("<b>trusted?</b>"), object(), {1: "x"}, {"nested": [{"ok": 1, "bad": {1, 2}}]}],
)
def test_only_plain_data_reaches_a_template(value):
    with pytest.raises(TypeError, match="plain data|not a string"):
        renderer(**{"t.html.j2": "{{ value }}"}).render("t.html.j2", {"value": value})


def test_output_is_capped():
    source = "{% for i in range(100000) %}{{ line }}{% endfor %}"
    with pytest.raises(TemplateError, match="larger than 20000 bytes"):
        renderer(**{"t.txt.j2": source}).render("t.txt.j2", {"line": "바이오 " * 10})


def test_markers_survive_escaping_and_css_inlining():
    source = (
        "<html><head><style>a { color: #0b7a55; } p { margin: 0; }</style></head><body>"
        '<p><a href="{{ unsubscribe_url }}">수신거부</a> · <a href="{{ preferences_url }}?x=1&y=2">설정</a></p>'
        "<p>{{ subscriber_name }} · {{ subscriber_email }}</p></body></html>"
    )
    html = renderer(**{"t.html.j2": source}).render_html("t.html.j2", MARKER_VARIABLES)
    assert 'style="color: #0b7a55;"' in html  # the CSS really was inlined
    assert '<a href="%%MAILER_UNSUBSCRIBE_URL%%" style=' in html
    assert 'href="%%MAILER_PREFERENCES_URL%%?x=1&amp;y=2"' in html
    assert "%%MAILER_NAME%% · %%MAILER_EMAIL%%" in html
    for field in PersonalField:
        assert field.marker in html


def test_css_inlining_keeps_media_queries_marked_keep():
    source = (
        "<html><head><style>.a { color: red; }</style>"
        '<style data-css-inline="keep">@media (prefers-color-scheme: dark) { .a { color: #fff !important; } }</style>'
        '</head><body><p class="a">x</p></body></html>'
    )
    html = renderer(**{"t.html.j2": source}).render_html("t.html.j2", {})
    assert '<p class="a" style="color: red;">' in html
    assert "prefers-color-scheme: dark" in html

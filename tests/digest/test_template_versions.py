"""Template versions (SQLite and PostgreSQL): init seeds the shipped files, save renders first and
refuses a broken template at its line, warnings, rollback, reset, diff, roles, and editions carry
the versions they were built from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from mailer import digest
from mailer.bootstrap import build_context
from mailer.digest.create import create_edition
from mailer.errors import NotFoundError
from mailer.roles import PermissionDenied
from mailer.seed import initialise
from mailer.store import editions as edition_store
from mailer.store.db import write_transaction
from mailer.store.tables import audit_log
from tests.digest_data import BASE_URL, MONDAY, week_of_news

DIGEST_TEXT = "digest.txt.j2"
DIGEST_HTML = "digest.html.j2"


@dataclass(frozen=True)
class Staff:
    email: str
    role: str


EDITOR = Staff("editor@example.kr", "editor")
ADMIN = Staff("admin@example.kr", "admin")


@pytest.fixture
def ctx(make_settings, database_url):
    # A short time limit: the endless-loop test waits for it (ample for a real render).
    settings = make_settings(
        database_url=database_url, base_url=BASE_URL, render={"timeout_seconds": 4}
    )
    context = build_context(settings)
    initialise(context)
    with write_transaction(context.engine) as conn:
        week_of_news(conn)
    yield context
    context.close()


def audit_rows(ctx, action):
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action == action)).mappings()
        return [dict(row) for row in rows]


def shipped(ctx, name):
    return (ctx.settings.templates_dir / "email" / name).read_text(encoding="utf-8")


def test_editable_templates_are_the_files_under_templates_email(ctx):
    files = sorted(p.name for p in (ctx.settings.templates_dir / "email").glob("*.j2"))
    assert sorted(digest.EDITABLE_TEMPLATES) == files


def test_init_seeds_every_shipped_template_once(ctx):
    listed = digest.list_templates(ctx)
    assert [t.name for t in listed] == list(digest.EDITABLE_TEMPLATES)
    assert {(t.number, t.origin, t.author, t.active) for t in listed} == {
        (1, "default", None, True)
    }
    assert all(t.source == shipped(ctx, t.name) for t in listed)
    again = initialise(ctx)
    assert not [item for item in again.seeded if item.startswith("template")]
    assert digest.template_versions(ctx, DIGEST_TEXT)[0].number == 1


def test_a_save_becomes_the_active_version_and_the_next_edition_is_built_from_it(ctx):
    source = shipped(ctx, DIGEST_TEXT).replace(
        "{{ edition.date }}", "{{ edition.date }}\n편집부 인사말: 새해 복 많이 받으세요", 1
    )
    assert source != shipped(ctx, DIGEST_TEXT)
    saved = digest.save_template(ctx, EDITOR, DIGEST_TEXT, source, note="인사말", client="10.0.0.1")
    assert (saved.version.number, saved.version.origin, saved.version.author) == (
        2,
        "editor",
        EDITOR.email,
    )
    assert saved.version.active and saved.version.note == "인사말"
    history = digest.template_versions(ctx, DIGEST_TEXT)
    assert [(v.number, v.active) for v in history] == [(2, True), (1, False)]
    [audit] = audit_rows(ctx, "template.save")
    assert (audit["actor"], audit["target"], audit["client_address"]) == (
        EDITOR.email,
        DIGEST_TEXT,
        "10.0.0.1",
    )
    assert audit["detail"]["before"]["version"] == 1
    assert audit["detail"]["after"] == {"version": 2, "lines": len(source.splitlines())}

    edition = create_edition(ctx, schedule="digest", scheduled_for=MONDAY, now=MONDAY)
    assert "편집부 인사말: 새해 복 많이 받으세요" in edition.text
    expected = {"digest.subject.j2": 1, DIGEST_HTML: 1, DIGEST_TEXT: 2}
    assert edition.template_versions == expected
    with ctx.engine.connect() as conn:
        assert edition_store.find_by_number(conn, edition.number).template_versions == expected


def test_a_template_with_a_mistake_is_refused_at_its_line_and_stays_inactive(ctx):
    broken = "첫 줄\n둘째 줄\n{% if edition.number %}\n열린 if\n"
    with pytest.raises(digest.TemplateRefused) as refused:
        digest.save_template(ctx, EDITOR, DIGEST_TEXT, broken)
    problem = refused.value.problem
    assert problem.template == DIGEST_TEXT
    assert problem.line == 4
    assert problem.message
    assert [v.number for v in digest.template_versions(ctx, DIGEST_TEXT)] == [1]
    assert audit_rows(ctx, "template.save") == []
    # The preview says the same, without raising.
    preview = digest.preview_templates(ctx, DIGEST_TEXT, overrides={DIGEST_TEXT: broken})
    assert preview.problem == problem


def test_a_runtime_error_is_refused_with_its_line(ctx):
    broken = "한 줄\n{{ edition.number.nothing.deeper }}\n"
    with pytest.raises(digest.TemplateRefused) as refused:
        digest.save_template(ctx, EDITOR, DIGEST_TEXT, broken)
    assert refused.value.problem.line == 2


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(10**9) %}{{ i }}{% endfor %}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
    ],
    ids=["endless loop", "endless recursion", "a loop past the time limit"],
)
def test_a_template_that_never_ends_comes_back_as_a_problem(ctx, source):
    with pytest.raises(digest.TemplateRefused) as refused:
        digest.save_template(ctx, EDITOR, DIGEST_TEXT, source)
    assert refused.value.problem.template == DIGEST_TEXT
    if "99999" in source:  # stopped by the render process's time limit, at its line
        assert "render.timeout_seconds" in refused.value.problem.message
        assert refused.value.problem.line == 1
    assert [v.number for v in digest.template_versions(ctx, DIGEST_TEXT)] == [1]
    # And the renderer works at once after it.
    assert digest.preview_templates(ctx, DIGEST_TEXT, overrides={}).problem is None


def test_warnings_do_not_stop_a_save(ctx):
    source = (
        "<html><body>\n"
        '<img src="https://news.example.or.kr/logo.png">\n'
        '<a href="http://insecure.example.kr/">링크</a>\n'
        '<a href="mailto:info@example.kr">메일</a> <a href="tel:07077843185">전화</a>\n'
        '<a href="{{ archive_url }}">웹에서 보기</a>\n'
        "{% for i in range(2500) %}<p>가나다라마바사아자차카타파하 {{ i }}</p>{% endfor %}\n"
        "</body></html>\n"
    )
    saved = digest.save_template(ctx, EDITOR, DIGEST_HTML, source)
    found = {(w.code, w.line) for w in saved.warnings}
    assert ("image_alt", 2) in found
    assert ("insecure_link", 3) in found
    assert ("gmail_clipping", None) in found
    assert ("no_unsubscribe", None) in found
    assert [w.code for w in saved.warnings].count("insecure_link") == 1
    assert all(" / " in w.message for w in saved.warnings)
    assert saved.version.number == 2
    # The shipped digest has none of these.
    overrides = {DIGEST_HTML: shipped(ctx, DIGEST_HTML)}
    assert digest.preview_templates(ctx, DIGEST_HTML, overrides=overrides).warnings == []


def test_the_preview_shows_the_next_edition_with_the_real_stories_and_the_sample_subscriber(ctx):
    preview = digest.preview_templates(
        ctx, DIGEST_TEXT, overrides={DIGEST_TEXT: "{{ lead_title }} / {{ unsubscribe_url }}"}
    )
    assert preview.problem is None
    assert "시흥시, 배곧" in preview.text
    assert "%%MAILER_" not in preview.text and "/unsubscribe" in preview.text
    assert preview.subject and "<html" in preview.html.lower()
    notice = digest.preview_templates(ctx, "notice_welcome.txt.j2", overrides={})
    assert notice.problem is None and notice.subject and notice.html and notice.warnings == []
    layout = digest.preview_templates(
        ctx,
        "_notice_layout.html.j2",
        overrides={"_notice_layout.html.j2": "{% block body %}{% endblock %}<p>새 틀</p>"},
    )
    assert "<p>새 틀</p>" in layout.html


def test_rollback_reset_and_diff(ctx):
    first = shipped(ctx, DIGEST_TEXT)
    second = first + "\n덧붙인 줄\n"
    digest.save_template(ctx, EDITOR, DIGEST_TEXT, second)
    rolled = digest.rollback_template(ctx, ADMIN, DIGEST_TEXT, 1, client="10.0.0.2")
    assert (rolled.version.number, rolled.version.origin, rolled.version.source) == (
        3,
        "rollback",
        first,
    )
    assert audit_rows(ctx, "template.rollback")[0]["detail"]["from_version"] == 1

    diff = digest.diff_versions(ctx, DIGEST_TEXT, 1, 2)
    added = [line for line in diff if line.kind == "added"]
    assert [line.text for line in added][-1] == "덧붙인 줄"
    assert all(line.old_line is None and line.new_line for line in added)
    assert not [line for line in diff if line.kind == "removed"]
    assert len([line for line in diff if line.kind == "same"]) == len(first.splitlines())
    back = digest.diff_versions(ctx, DIGEST_TEXT, 2, 3)
    assert [line.text for line in back if line.kind == "removed"][-1] == "덧붙인 줄"

    digest.save_template(ctx, EDITOR, DIGEST_TEXT, second)
    reset = digest.reset_template(ctx, EDITOR, DIGEST_TEXT)
    assert (reset.version.number, reset.version.origin, reset.version.source) == (5, "reset", first)
    assert len(audit_rows(ctx, "template.reset")) == 1
    assert digest.template_version(ctx, DIGEST_TEXT, 2).source == second
    with pytest.raises(NotFoundError):
        digest.template_version(ctx, DIGEST_TEXT, 99)
    with pytest.raises(NotFoundError):
        digest.template_versions(ctx, "nothing.j2")


def test_only_roles_that_edit_templates_may_save_rollback_or_reset(ctx):
    reader = Staff("reader@example.kr", "reader")
    source = shipped(ctx, DIGEST_TEXT) + "\n"
    for attempt in (
        lambda: digest.save_template(ctx, reader, DIGEST_TEXT, source),
        lambda: digest.rollback_template(ctx, reader, DIGEST_TEXT, 1),
        lambda: digest.reset_template(ctx, reader, DIGEST_TEXT),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    assert [v.number for v in digest.template_versions(ctx, DIGEST_TEXT)] == [1]
    assert digest.save_template(ctx, EDITOR, DIGEST_TEXT, source).version.number == 2


def test_every_variable_a_template_sees_is_described(ctx):
    from mailer.digest.rendering import edition_context, story_context
    from mailer.digest.select import select_stories
    from mailer.digest.seminar import load_seminar_of
    from mailer.digest.template_preview import sample_notice_variables

    with ctx.engine.connect() as conn:
        selection = select_stories(conn, ctx.settings, now=MONDAY)
    seminar = load_seminar_of(ctx.settings)
    assert seminar is not None
    context = edition_context(
        ctx.settings,
        sections=selection.sections,
        seminar=seminar,
        number=1,
        scheduled_for=MONDAY - timedelta(days=400),  # sessions still to come
    )
    described = {v.name: v for v in digest.template_variables(DIGEST_HTML)}
    assert set(context) <= set(described)
    for key, value in context.items():
        if isinstance(value, dict):
            assert set(value) <= set(described[key].fields), key
    assert set(context["sections"][0]) <= set(described["sections"].fields)
    story = story_context(selection.stories[0], index=1, zone=ctx.settings.zone, summary_chars=80)
    assert set(story) == set(described["stories"].fields)
    assert context["seminar"]["sessions"], "the sample seminar has sessions to describe"
    session_fields = set(context["seminar"]["sessions"][0])
    assert session_fields == set(described["seminar.sessions"].fields)

    notice_described = {v.name for v in digest.template_variables("notice_welcome.txt.j2")}
    for notice in (
        "confirm",
        "notice_welcome",
        "notice_already",
        "notice_reconfirm",
        "notice_withdrawal",
        "notice_erasure",
        "notice_data_link",
        "notice_unsubscribe_link",
    ):
        assert set(sample_notice_variables(ctx, notice, now=MONDAY)) <= notice_described
        assert all(v.description_ko and v.description_en for v in digest.template_variables(notice))


def test_every_shipped_template_previews_without_a_problem_or_a_warning(ctx):
    for name in digest.EDITABLE_TEMPLATES:
        preview = digest.preview_templates(ctx, name, overrides={})
        assert preview.problem is None, name
        assert preview.warnings == [], name
        assert preview.subject and preview.html and preview.text, name
        assert "%%MAILER_" not in preview.html + preview.text, name


def test_a_changed_shipped_file_never_replaces_a_staff_version(
    make_settings, database_url, tmp_path
):
    import shutil

    from mailer.config import PROJECT_ROOT

    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    context = build_context(
        make_settings(database_url=database_url, base_url=BASE_URL, templates_dir=templates)
    )
    try:
        initialise(context)
        mine = shipped(context, DIGEST_TEXT) + "\n편집부가 고친 판\n"
        digest.save_template(context, EDITOR, DIGEST_TEXT, mine)
        # A new release changes two shipped files: one staff edited, one they did not.
        for name in (DIGEST_TEXT, "notice_welcome.txt.j2"):
            path = templates / "email" / name
            path.write_text(path.read_text("utf-8") + "\n새 릴리스의 줄\n", "utf-8")
        report = initialise(context)
        assert report.seeded == ["template notice_welcome.txt.j2"]
        assert [note for note in report.notes if DIGEST_TEXT in note] == [
            f"template {DIGEST_TEXT}: the shipped default changed; staff's version stays active "
            f"(`mailer templates reset {DIGEST_TEXT}` takes the new default)"
        ]
        active = {t.name: t for t in digest.list_templates(context)}
        assert (active[DIGEST_TEXT].number, active[DIGEST_TEXT].source) == (2, mine)
        welcome = active["notice_welcome.txt.j2"]
        assert (welcome.number, welcome.origin) == (2, "default")
        assert welcome.source.endswith("새 릴리스의 줄\n")
        again = initialise(context)
        assert again.seeded == [] and len(again.notes) == 1
    finally:
        context.close()

"""`mailer templates …` through the real entry point: list, export/import round trip, a refused import, reset, and `digest show`'s versions."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from mailer import digest
from mailer.bootstrap import build_context
from mailer.config import load_settings
from mailer.store.db import write_transaction
from mailer.store.tables import audit_log
from tests.digest_data import MONDAY, week_of_news
from tests.helpers import cli_env, run_cli


@pytest.fixture
def cli(tmp_path):
    """`mailer templates …` on a fresh SQLite database (the digest tests cover PostgreSQL)."""
    database_url = f"sqlite:///{tmp_path / 'mailer.db'}"
    env = cli_env(
        MAILER_DATABASE_URL=database_url, MAILER_DATA_DIR=str(tmp_path / "var"), COLUMNS="200"
    )
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0

    def run(*args: str):
        return run_cli(*args, env=env, cwd=tmp_path)

    context = build_context(load_settings(database_url=database_url, data_dir=tmp_path / "var"))
    yield run, context
    context.close()


def test_list_shows_every_template_at_version_1_after_init(cli):
    run, _context = cli
    listed = run("templates", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [row["name"] for row in rows] == list(digest.EDITABLE_TEMPLATES)
    assert {(row["version"], row["origin"], row["author"]) for row in rows} == {
        (1, "default", None)
    }
    table = run("templates", "list")
    assert "digest.html.j2" in table.stdout and "default" in table.stdout


def test_export_then_import_round_trip(cli, tmp_path):
    run, context = cli
    out = tmp_path / "exported"
    exported = run("templates", "export", str(out))
    assert exported.returncode == 0, exported.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(digest.EDITABLE_TEMPLATES)
    assert f"wrote {out / 'digest.txt.j2'}" in exported.stdout

    unchanged = run("templates", "import", str(out))
    assert unchanged.returncode == 0, unchanged.stderr
    assert "imported" not in unchanged.stdout

    text = out / "digest.txt.j2"
    text.write_text(text.read_text(encoding="utf-8") + "\n운영자가 git에서 고친 줄\n", "utf-8")
    (out / "notes.md").write_text("not a template", "utf-8")
    imported = run("templates", "import", str(out))
    assert imported.returncode == 0, imported.stderr
    assert "imported digest.txt.j2 as version 2" in imported.stdout
    assert "skipped notes.md: not a template" in imported.stdout
    [active] = [t for t in digest.list_templates(context) if t.name == "digest.txt.j2"]
    assert (active.number, active.origin, active.author) == (2, "import", None)
    assert "운영자가 git에서 고친 줄" in active.source
    with context.engine.connect() as conn:
        [audit] = conn.execute(
            select(audit_log).where(audit_log.c.action == "template.import")
        ).mappings()
    assert (audit["actor"], audit["target"]) == ("cli", "digest.txt.j2")

    again = tmp_path / "again"
    assert run("templates", "export", str(again)).returncode == 0
    assert (again / "digest.txt.j2").read_text("utf-8") == text.read_text("utf-8")


def test_a_refused_file_is_reported_at_its_line_and_the_others_still_import(cli, tmp_path):
    run, context = cli
    out = tmp_path / "exported"
    assert run("templates", "export", str(out)).returncode == 0
    (out / "digest.subject.j2").write_text("제목\n{{ edition.number ", "utf-8")
    html = out / "notice_welcome.html.j2"
    html.write_text(html.read_text("utf-8").replace("</p>", " 반갑습니다</p>", 1), "utf-8")
    imported = run("templates", "import", str(out))
    assert imported.returncode == 1
    assert "refused digest.subject.j2: digest.subject.j2, line 2:" in imported.stderr
    assert "imported notice_welcome.html.j2 as version 2" in imported.stdout
    versions = {t.name: t.number for t in digest.list_templates(context)}
    assert versions["digest.subject.j2"] == 1 and versions["notice_welcome.html.j2"] == 2


def test_reset_and_digest_show_name_the_versions_an_edition_was_built_from(cli, tmp_path):
    run, context = cli
    out = tmp_path / "exported"
    assert run("templates", "export", str(out)).returncode == 0
    text = out / "digest.txt.j2"
    text.write_text(text.read_text("utf-8") + "\n덧붙임\n", "utf-8")
    assert run("templates", "import", str(out)).returncode == 0
    reset = run("templates", "reset", "digest.txt.j2")
    assert reset.returncode == 0, reset.stderr
    assert "digest.txt.j2: version 3 is the shipped default" in reset.stdout
    assert run("templates", "reset", "nothing.j2").returncode == 1

    with write_transaction(context.engine) as conn:
        week_of_news(conn)
    edition = digest.create_edition(context, schedule="digest", scheduled_for=MONDAY, now=MONDAY)
    shown = run("digest", "show", str(edition.number), "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["number"] == edition.number
    assert data["template_versions"] == {
        "digest.subject.j2": 1,
        "digest.html.j2": 1,
        "digest.txt.j2": 3,
    }
    table = run("digest", "show", str(edition.number))
    assert "digest.txt.j2 v3" in table.stdout
    assert run("digest", "show", "99").returncode == 1

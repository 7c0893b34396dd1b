"""Every caller's renders are bounded: edition creation, `mailer digest preview`, notices in the send worker.

A staff member saves a hostile template in ``templates/email``; what they and the
service see is one clear error naming the limit — the scheduler, the CLI and the
web process's send worker carry on (issue 11, item 2).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer import delivery
from mailer.bootstrap import build_context
from mailer.digest import create_edition
from mailer.errors import TemplateError
from mailer.models import EditionState
from mailer.store import notices as notice_store
from mailer.store.db import write_transaction
from mailer.store.tables import editions, notices
from tests.delivery_data import add_edition, add_subscribers, delivery_rows
from tests.digest_data import MONDAY, add_story
from tests.helpers import cli_env, run_cli
from tests.render.test_limits import GROWING_LIST, NESTED_LOOPS, within

SHIPPED = Path(__file__).resolve().parents[2] / "templates" / "email"


def templates_with(tmp_path: Path, **replaced: str) -> Path:
    """A copy of the shipped templates with some files' text replaced; returns the templates dir."""
    root = tmp_path / "templates"
    shutil.copytree(SHIPPED, root / "email")
    for name, source in replaced.items():
        (root / "email" / name).write_text(source, "utf-8")
    return root


def test_creating_an_edition_with_a_runaway_template_fails_naming_the_limit(
    make_settings, database_url, tmp_path
):
    hostile = "<html><body>\n" + NESTED_LOOPS + "\n</body></html>\n"
    templates = templates_with(tmp_path, **{"digest.html.j2": hostile})
    ctx = build_context(
        make_settings(
            database_url=database_url,
            templates_dir=templates,
            render={"timeout_seconds": 2},
        )
    )
    try:
        with write_transaction(ctx.engine) as conn:
            add_story(conn, "a", title="바이오 소식")
        with pytest.raises(TemplateError) as caught:
            within(create_edition, ctx, schedule="digest", scheduled_for=MONDAY, now=MONDAY)
        assert (caught.value.template, caught.value.line) == ("digest.html.j2", 2)
        assert "2초 제한을 넘었습니다 (render.timeout_seconds)" in str(caught.value)
        with ctx.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(editions)).scalar_one() == 0
        # Staff fix the template; the same context (its render process replaced) creates it.
        shutil.copy(SHIPPED / "digest.html.j2", templates / "email" / "digest.html.j2")
        edition = within(create_edition, ctx, schedule="digest", scheduled_for=MONDAY, now=MONDAY)
        assert edition.state is EditionState.DRAFT and "바이오 소식" in edition.html
    finally:
        ctx.close()
    assert ctx.render_pool.get().pids() == []


def test_digest_preview_with_a_template_past_the_memory_limit_exits_with_one_clear_line(tmp_path):
    templates = templates_with(tmp_path, **{"digest.txt.j2": GROWING_LIST})
    env = cli_env(
        MAILER_DATA_DIR=str(tmp_path / "var"),
        MAILER_TEMPLATES_DIR=str(templates),
        MAILER_RENDER__MEMORY_MB="128",
        MAILER_RENDER__TIMEOUT_SECONDS="300",
    )
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    result = run_cli("digest", "preview", "--format", "text", env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert (
        "digest.txt.j2, line 3: 템플릿 렌더링이 메모리 제한 128 MB를 넘었습니다 (render.memory_mb)"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


async def test_a_notice_whose_template_runs_away_fails_alone_and_the_worker_carries_on(
    make_settings, database_url, smtp_server, tmp_path
):
    hostile = '{% set subject = "결과 안내" %}\n' + NESTED_LOOPS + "\n"
    templates = templates_with(tmp_path, **{"notice_erasure.txt.j2": hostile})
    ctx = build_context(
        make_settings(
            database_url=database_url,
            templates_dir=templates,
            render={"timeout_seconds": 2},
            smtp={"host": smtp_server.host, "port": smtp_server.port, "timeout": 5},
            delivery={"poll_seconds": 0.2},
        )
    )
    try:
        add_subscribers(ctx.engine, 3)
        edition_id = add_edition(ctx.engine)
        delivery.queue_edition(ctx, edition_id)
        with write_transaction(ctx.engine) as conn:
            notice_id = notice_store.enqueue(
                conn, "erasure", to_address="gone@example.kr", now=datetime.now(UTC)
            )

        summary = await delivery.run_worker(ctx, until_idle=True)

        assert summary.sent == 3
        assert {row["state"] for row in delivery_rows(ctx.engine, edition_id)} == {"sent"}
        with ctx.engine.connect() as conn:
            row = conn.execute(select(notices).where(notices.c.id == notice_id)).mappings().one()
        assert row["state"] == "failed"
        assert "notice_erasure.txt.j2, line 2" in row["last_error"]
        assert "2초 제한을 넘었습니다 (render.timeout_seconds)" in row["last_error"]
        assert [m.rcpt_tos for m in smtp_server.messages if m.rcpt_tos == ["gone@example.kr"]] == []
    finally:
        ctx.close()

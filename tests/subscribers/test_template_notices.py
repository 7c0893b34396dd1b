"""Notice mails render the active template versions staff saved (SQLite and PostgreSQL, a real SMTP server)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from mailer import delivery, digest
from mailer import subscribers as subscriptions
from mailer.seed import initialise

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Staff:
    email: str
    role: str


@pytest.fixture
def ctx(context):
    initialise(context)
    return context


def shipped(ctx, name):
    return (ctx.settings.templates_dir / "email" / name).read_text(encoding="utf-8")


async def test_a_saved_welcome_text_arrives_in_the_next_welcome_mail(ctx, smtp_server):
    version = subscriptions.current_consent_text(ctx).version
    subscriptions.signup(ctx, "reader@example.kr", consented=True, consent_version=version, now=T0)
    # The confirmation goes out first: the process's notice renderer exists before the save.
    assert await delivery.deliver_notices(ctx, now=T0) == 1
    body = smtp_server.messages[0].message.get_body(("plain",)).get_content()
    token = re.search(r"/confirm/([A-Za-z0-9_-]+)", body).group(1)

    editor = Staff("editor@example.kr", "editor")
    text_name, html_name = "notice_welcome.txt.j2", "notice_welcome.html.j2"
    text = shipped(ctx, text_name).replace("안녕하세요", "반갑습니다, 시흥 바이오 소식 독자님", 1)
    html = shipped(ctx, html_name).replace("<p>안녕하세요", "<p>환영합니다! 안녕하세요", 1)
    assert digest.save_template(ctx, editor, text_name, text).version.number == 2
    assert digest.save_template(ctx, editor, html_name, html).version.number == 2

    later = T0 + timedelta(hours=1)
    subscriptions.confirm(ctx, token, now=later)
    assert await delivery.deliver_notices(ctx, now=later) == 1
    welcome = smtp_server.messages[1].message
    assert "수신 동의 처리 결과" in welcome["Subject"]
    assert "반갑습니다, 시흥 바이오 소식 독자님" in welcome.get_body(("plain",)).get_content()
    assert "환영합니다! 안녕하세요" in welcome.get_body(("html",)).get_content()

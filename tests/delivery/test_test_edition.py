"""`delivery.send_test_edition`: the editor's preview reaches the staff member's own address as a digest does, signed."""

from __future__ import annotations

from dataclasses import dataclass

import dkim
import pytest

from mailer import delivery, staff
from mailer.bootstrap import build_context
from mailer.errors import InvalidInputError
from mailer.models import PersonalField
from tests.mail.test_prepared import dns_stub, rsa_key


@dataclass(frozen=True)
class Account:
    email: str
    role: str


@pytest.fixture
def make_ctx(make_settings, database_url, smtp_server):
    made = []

    def build(**overrides):
        overrides.setdefault("smtp", {"host": smtp_server.host, "port": smtp_server.port})
        ctx = build_context(make_settings(database_url=database_url, **overrides))
        made.append(ctx)
        return ctx

    yield build
    for ctx in made:
        ctx.close()


HTML = f'<p>안녕하세요, 새 인사말입니다.</p><a href="{PersonalField.UNSUBSCRIBE_URL.marker}">수신 거부</a>'
TEXT = f"안녕하세요, 새 인사말입니다.\n수신 거부: {PersonalField.UNSUBSCRIBE_URL.marker}\n"


async def test_the_edited_preview_arrives_at_the_own_address_signed_and_audited(
    make_ctx, smtp_server, tmp_path
):
    private_key, public_key = rsa_key()
    key_path = tmp_path / "dkim.pem"
    key_path.write_bytes(private_key)
    ctx = make_ctx(
        dkim={
            "enabled": True,
            "domain": "example.or.kr",
            "selector": "mailer",
            "private_key_path": str(key_path),
        }
    )
    editor = Account("lee@example.kr", "editor")
    reply = await delivery.send_test_edition(
        ctx, editor, subject="주간 바이오 소식 1호", html=HTML, text=TEXT, client="127.0.0.1"
    )
    assert reply.startswith("250")
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["lee@example.kr"]
    assert mail.message["To"] == "lee@example.kr"
    assert mail.message["Subject"] == "[시험 발송] 주간 바이오 소식 1호"
    assert "List-Unsubscribe" in mail.message
    text_part = mail.message.get_body(("plain",)).get_content()
    html_part = mail.message.get_body(("html",)).get_content()
    assert "새 인사말입니다" in text_part and "새 인사말입니다" in html_part
    # The markers are filled as for a subscriber, with a token that matches nobody.
    assert PersonalField.UNSUBSCRIBE_URL.marker not in text_part
    assert delivery.test_edition.TEST_TOKEN in text_part
    assert "DKIM-Signature" in mail.message
    assert dkim.verify(mail.data, dnsfunc=dns_stub(public_key, []))
    [entry] = [row for row in staff.recent_audit(ctx) if row["action"] == "template.test_send"]
    assert (entry["actor"], entry["client_address"]) == ("lee@example.kr", "127.0.0.1")
    assert entry["detail"]["after"]["subject"] == "주간 바이오 소식 1호"


async def test_two_test_sends_carry_different_message_ids(make_ctx, smtp_server):
    ctx = make_ctx()
    for _ in range(2):
        await delivery.send_test_edition(
            ctx, Account("kim@example.kr", "admin"), subject="s", html="", text="본문\n"
        )
    first, second = smtp_server.messages
    assert first.message["Message-ID"] != second.message["Message-ID"]
    # An empty HTML part is left out, as for an edition.
    assert first.message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in first.message.iter_parts()] == ["text/plain"]


async def test_a_role_without_the_permission_sends_nothing(make_ctx, smtp_server):
    ctx = make_ctx()
    with pytest.raises(staff.PermissionDenied):
        await delivery.send_test_edition(
            ctx, Account("guest@example.kr", "reader"), subject="s", html="", text="본문\n"
        )
    with pytest.raises(InvalidInputError) as empty:
        await delivery.send_test_edition(
            ctx, Account("kim@example.kr", "admin"), subject="s", html="<p>x</p>", text="  "
        )
    assert empty.value.field == "text"
    assert smtp_server.connections == 0
    assert not [row for row in staff.recent_audit(ctx) if row["action"] == "template.test_send"]

"""`delivery.send_test_mail`: one message over the worker's kind of connection, signed like a notice."""

from __future__ import annotations

import dkim
import pytest

from mailer import delivery
from mailer.bootstrap import build_context
from mailer.errors import DeliveryError, InvalidInputError
from mailer.mail import Outbox, list_outbox
from tests.mail.test_prepared import dns_stub, rsa_key


@pytest.fixture
def make_ctx(make_settings, smtp_server):
    made = []

    def build(**overrides):
        overrides.setdefault("smtp", {"host": smtp_server.host, "port": smtp_server.port})
        ctx = build_context(make_settings(**overrides))
        made.append(ctx)
        return ctx

    yield build
    for ctx in made:
        ctx.close()


async def test_the_test_mail_reaches_the_relay_with_the_relays_reply(make_ctx, smtp_server):
    ctx = make_ctx()
    reply = await delivery.send_test_mail(ctx, "독자@example.kr")
    assert reply.startswith("250")
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["독자@example.kr"]
    assert mail.mail_from == ctx.settings.compliance.from_address
    assert mail.message["Subject"] == "mailer 시험 메일 / test message"
    assert "메일 경로가 동작합니다." in mail.message.get_content()


async def test_the_test_mail_is_dkim_signed_when_dkim_is_on(make_ctx, smtp_server, tmp_path):
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
    await delivery.send_test_mail(ctx, "reader@example.kr")
    [mail] = smtp_server.messages
    assert "DKIM-Signature" in mail.message
    assert dkim.verify(mail.data, dnsfunc=dns_stub(public_key, []))


@pytest.mark.parametrize(
    "address", ["a@example.kr\r\nBcc: b@example.kr", "not an address", "a@example.kr, b@example.kr"]
)
async def test_anything_but_one_address_is_refused_before_connecting(
    make_ctx, smtp_server, address
):
    with pytest.raises(InvalidInputError, match="invalid recipient address") as refused:
        await delivery.send_test_mail(make_ctx(), address)
    assert refused.value.field == "address"
    assert smtp_server.connections == 0


async def test_a_refusing_relay_is_a_delivery_error(make_ctx, smtp_server):
    smtp_server.fail("RCPT", 550, "no such user")
    with pytest.raises(DeliveryError, match="550"):
        await delivery.send_test_mail(make_ctx(), "reader@example.kr")
    assert smtp_server.messages == []


async def test_the_outbox_receives_through_the_same_send_path(make_ctx, tmp_path):
    outbox = Outbox(tmp_path / "outbox", port=0)
    await outbox.start()
    try:
        ctx = make_ctx(smtp={"outbox_port": outbox.port})
        reply = await delivery.send_test_mail(ctx, "reader@example.kr")
    finally:
        await outbox.stop()
    assert reply == "250 OK"
    listed = list_outbox(tmp_path / "outbox")
    assert [item.subject for item in listed] == ["mailer 시험 메일 / test message"]
    assert "reader@example.kr" in listed[0].recipients

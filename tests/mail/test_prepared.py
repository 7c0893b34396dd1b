"""Prepared digest mail: headers per compliance.md, QP bodies personalised per recipient, DKIM."""

from __future__ import annotations

import base64
import email
import email.policy
import html
import math
import random
import re

import dkim
import pytest

from mailer.errors import ConfigError, DeliveryError
from mailer.mail import Recipient, compose, message_bytes, personalise, prepare_edition, qp_encode
from tests.delivery_data import EMAIL, HTML, NAME, PREFERENCES, TEXT, UNSUBSCRIBE

BASE_URL = "https://news.example.or.kr"
TOKEN = "Tok3n_-abcdefghijklmnopqrstuv"


#: An installation's random Message-ID part (store/installation.py makes the real one).
PART = "5f3a9c0d1e2b4a68"


@pytest.fixture
def mail_settings(make_settings):
    return make_settings(base_url=BASE_URL)


def edition(**overrides) -> dict:
    row = {"id": 12, "subject": "시흥 바이오산업 주간 뉴스 제12호", "html": HTML, "text": TEXT}
    row.update(overrides)
    return row


def reader(**overrides) -> Recipient:
    values = {"subscriber_id": 3456, "email": "reader@example.kr", "name": "홍길동", "token": TOKEN}
    values.update(overrides)
    return Recipient(**values)


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def expected(body: str, recipient: Recipient, *, escape: bool) -> str:
    values = {
        UNSUBSCRIBE: f"{BASE_URL}/unsubscribe/{recipient.token}",
        PREFERENCES: f"{BASE_URL}/preferences/{recipient.token}",
        NAME: recipient.name or "",
        EMAIL: recipient.email,
    }
    for marker, value in values.items():
        body = body.replace(marker, html.escape(value) if escape else value)
    return body if body.endswith("\n") else body + "\n"  # a part ends with a line break


def decoded_parts(data: bytes) -> tuple[str, str]:
    message = parse(data)
    text_part, html_part = message.iter_parts()
    # Wire CRLFs come back as CRLF from get_content(); compare as Python text.
    return (
        text_part.get_content().replace("\r\n", "\n"),
        html_part.get_content().replace("\r\n", "\n"),
    )


def test_headers_follow_compliance_reference(mail_settings):
    prepared = prepare_edition(mail_settings, edition(), message_id_part=PART)
    data = personalise(prepared, reader())
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii(), "headers must be 7-bit: Korean goes in RFC 2047 encoded-words"
    assert b"=?utf-8?" in head
    message = parse(data)
    assert message["From"].addresses[0].display_name == "(재)시흥산업진흥원"
    assert message["From"].addresses[0].addr_spec == "news@example.or.kr"
    assert message["To"] == "reader@example.kr"
    assert message["Subject"] == "시흥 바이오산업 주간 뉴스 제12호"
    assert message["Date"].datetime.utcoffset() is not None
    assert message["Message-ID"] == f"<e12.s3456.{PART}@example.or.kr>"
    assert message["List-Id"] == "시흥 바이오산업 주간 뉴스 <weekly-bio.news.example.or.kr>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    assert links == [
        f"{BASE_URL}/unsubscribe/{TOKEN}",
        f"mailto:news@example.or.kr?subject={TOKEN}",
    ]
    assert message.get_content_type() == "multipart/alternative"
    assert message["MIME-Version"] == "1.0"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert {part["Content-Transfer-Encoding"] for part in parts} == {"quoted-printable"}


def test_message_id_is_fixed_per_edition_and_subscriber(mail_settings):
    first = parse(
        personalise(prepare_edition(mail_settings, edition(), message_id_part=PART), reader())
    )
    # A retry (possibly in another worker, with a newly prepared edition) reuses it.
    again = parse(
        personalise(prepare_edition(mail_settings, edition(), message_id_part=PART), reader())
    )
    other = parse(
        personalise(
            prepare_edition(mail_settings, edition(), message_id_part=PART), reader(subscriber_id=7)
        )
    )
    assert first["Message-ID"] == again["Message-ID"] == f"<e12.s3456.{PART}@example.or.kr>"
    assert other["Message-ID"] == f"<e12.s7.{PART}@example.or.kr>"


def test_bodies_are_personalised_and_escaped_per_part(mail_settings):
    recipient = reader(name='김 "철수" <&>', email="kim+news@example.kr")
    data = personalise(prepare_edition(mail_settings, edition(), message_id_part=PART), recipient)
    text, html_body = decoded_parts(data)
    assert text == expected(TEXT, recipient, escape=False)
    assert html_body == expected(HTML, recipient, escape=True)
    assert "<&>" in text and "&lt;&amp;&gt;" in html_body and "%%MAILER" not in text + html_body


def test_same_content_as_a_message_built_with_emailmessage(mail_settings):
    """The fast path must say exactly what the slow, obviously right path says."""
    recipient = reader()
    fast = parse(
        personalise(prepare_edition(mail_settings, edition(), message_id_part=PART), recipient)
    )
    slow_bytes = message_bytes(
        compose(
            mail_settings.compliance,
            to=recipient.email,
            subject="시흥 바이오산업 주간 뉴스 제12호",
            text=expected(TEXT, recipient, escape=False),
            html=expected(HTML, recipient, escape=True),
        )
    )
    slow = parse(slow_bytes)
    for name in ("From", "To", "Subject"):
        assert str(fast[name]) == str(slow[name])
    for fast_part, slow_part in zip(fast.iter_parts(), slow.iter_parts(), strict=True):
        assert fast_part.get_content_type() == slow_part.get_content_type()
        assert fast_part.get_content() == slow_part.get_content()


@pytest.mark.parametrize("prefix", ["가", "x", "=", " ", "가x"])
def test_markers_at_every_line_position_survive_quoted_printable(mail_settings, prefix):
    """A marker can sit anywhere relative to QP's 76-character soft line breaks."""
    names = ["홍길동", "Anne-Marie O'Neil", ".점으로 시작", "", "x" * 120]
    for width in range(0, 90, 7):
        lead = (prefix * width)[:width]
        text = f"{lead}{UNSUBSCRIBE}{lead}{NAME}\n{NAME}{lead}.\n.{EMAIL}\n"
        body_html = f"<p>{lead}{NAME}</p>\n<a href='{UNSUBSCRIBE}'>{lead}</a>"
        prepared = prepare_edition(
            mail_settings, edition(text=text, html=body_html), message_id_part=PART
        )
        for name in names:
            recipient = reader(name=name)
            data = personalise(prepared, recipient)
            decoded_text, decoded_html = decoded_parts(data)
            assert decoded_text == expected(text, recipient, escape=False), (width, name)
            assert decoded_html == expected(body_html, recipient, escape=True), (width, name)
            assert_wire_safe(data)


def assert_wire_safe(data: bytes) -> None:
    assert data.endswith(b"\r\n")
    assert data.isascii(), "7-bit: no relay has to re-encode it (no 8BITMIME assumed)"
    lines = data.split(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in lines) <= 998  # RFC 5322 §2.1.1
    body = data.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # RFC 2045 §6.7
    # No dot-stuffing needed (RFC 5321 §4.5.2): no line starts with a dot.
    assert not any(line.startswith(b".") for line in lines)


def test_qp_encoding_round_trips_korean_and_awkward_lines():
    rng = random.Random(7)
    alphabet = "가나다라 마바사.=\t abc한국어 \u00e9"
    for _ in range(200):
        text = "".join(rng.choice(alphabet + "\n") for _ in range(rng.randrange(0, 300)))
        encoded = qp_encode(text.encode("utf-8"))
        message = parse(
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + encoded
        )
        assert message.get_content().replace("\r\n", "\n") == text
        lines = encoded.split(b"\r\n")
        assert all(len(line) <= 76 for line in lines)
        # The last line leaves room for the soft break that joins the next piece.
        assert len(lines[-1]) <= 75
        assert not any(line.startswith(b".") for line in lines)


def test_subject_with_a_marker_is_personalised(mail_settings):
    prepared = prepare_edition(
        mail_settings, edition(subject=f"{NAME}님을 위한 주간 뉴스"), message_id_part=PART
    )
    message = parse(personalise(prepared, reader(name="이영희")))
    assert message["Subject"] == "이영희님을 위한 주간 뉴스"


@pytest.mark.parametrize(
    "address", ["a@example.kr\r\nBcc: x@example.kr", "a b@example.kr", "<a@example.kr>", "no-at"]
)
def test_unusable_address_is_a_permanent_failure(mail_settings, address):
    prepared = prepare_edition(mail_settings, edition(), message_id_part=PART)
    with pytest.raises(DeliveryError) as raised:
        personalise(prepared, reader(email=address))
    assert raised.value.temporary is False


def test_malformed_token_is_refused(mail_settings):
    prepared = prepare_edition(mail_settings, edition(), message_id_part=PART)
    with pytest.raises(DeliveryError):
        personalise(prepared, reader(token="short>,<mailto:evil@example.com"))


def test_edition_without_text_part_is_refused(mail_settings):
    with pytest.raises(DeliveryError, match="plain-text"):
        prepare_edition(mail_settings, edition(text="  "), message_id_part=PART)


def test_edition_without_html_is_a_single_text_alternative(mail_settings):
    data = personalise(
        prepare_edition(mail_settings, edition(html=""), message_id_part=PART), reader()
    )
    parts = list(parse(data).iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain"]


# -- DKIM --------------------------------------------------------------------------------


def _der_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der_int(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")  # leading 0 keeps it positive
    return b"\x02" + _der_length(len(raw)) + raw


def _der_seq(content: bytes) -> bytes:
    return b"\x30" + _der_length(len(content)) + content


def _is_probable_prime(n: int, rng: random.Random) -> bool:
    if n % 2 == 0:
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(24):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (0b11 << (bits - 2)) | 1
        if _is_probable_prime(candidate, rng):
            return candidate


def rsa_key(bits: int = 1024) -> tuple[bytes, bytes]:
    """A fresh RSA key: (PKCS#1 PEM private key, base64 RSAPublicKey for the DNS record)."""
    rng = random.Random()
    e = 65537
    while True:
        p, q = _prime(bits // 2, rng), _prime(bits // 2, rng)
        phi = (p - 1) * (q - 1)
        if p != q and math.gcd(e, phi) == 1:
            break
    n, d = p * q, pow(e, -1, phi)
    fields = [0, n, e, d, p, q, d % (p - 1), d % (q - 1), pow(q, -1, p)]
    der = _der_seq(b"".join(_der_int(value) for value in fields))
    pem = (
        b"-----BEGIN RSA PRIVATE KEY-----\n"
        + base64.encodebytes(der)
        + b"-----END RSA PRIVATE KEY-----\n"
    )
    return pem, base64.b64encode(_der_seq(_der_int(n) + _der_int(e)))


@pytest.fixture(scope="module")
def dkim_key() -> tuple[bytes, bytes]:
    return rsa_key()


@pytest.fixture
def dkim_settings(make_settings, tmp_path, dkim_key):
    key_path = tmp_path / "dkim.pem"
    key_path.write_bytes(dkim_key[0])
    return make_settings(
        base_url=BASE_URL,
        dkim={
            "enabled": True,
            "domain": "example.or.kr",
            "selector": "mailer",
            "private_key_path": str(key_path),
        },
    )


def dns_stub(public_key: bytes, asked: list[bytes]):
    def lookup(name: bytes, timeout: float = 5) -> bytes:
        asked.append(name)
        return b"v=DKIM1; k=rsa; p=" + public_key

    return lookup


def test_dkim_signature_verifies_and_covers_list_unsubscribe(dkim_settings, dkim_key):
    data = personalise(prepare_edition(dkim_settings, edition(), message_id_part=PART), reader())
    assert data.startswith(b"DKIM-Signature:")
    asked: list[bytes] = []
    assert dkim.verify(data, dnsfunc=dns_stub(dkim_key[1], asked))
    assert asked == [b"mailer._domainkey.example.or.kr."]
    signature = parse(data)["DKIM-Signature"]
    signed = {h.strip().lower() for h in re.search(r"h=([^;]+)", signature).group(1).split(":")}
    assert {"list-unsubscribe", "list-unsubscribe-post", "from", "message-id"} <= signed
    assert_wire_safe(data)


def test_dkim_signature_breaks_when_list_unsubscribe_is_changed(dkim_settings, dkim_key):
    data = personalise(prepare_edition(dkim_settings, edition(), message_id_part=PART), reader())
    forged = data.replace(b"mailto:news@example.or.kr", b"mailto:evil@example.com!")
    assert forged != data
    assert not dkim.verify(forged, dnsfunc=dns_stub(dkim_key[1], []))
    without_post = data.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", b"")
    assert not dkim.verify(without_post, dnsfunc=dns_stub(dkim_key[1], []))


def test_dkim_misconfiguration_is_a_clear_config_error(make_settings, tmp_path):
    missing = make_settings(dkim={"enabled": True, "domain": "example.or.kr"})
    with pytest.raises(ConfigError, match="MAILER_DKIM__SELECTOR"):
        prepare_edition(missing, edition(), message_id_part=PART)
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("not a key")
    broken = make_settings(
        dkim={
            "enabled": True,
            "domain": "example.or.kr",
            "selector": "s",
            "private_key_path": str(bad_key),
        }
    )
    with pytest.raises(ConfigError, match="not a PEM RSA key"):
        prepare_edition(broken, edition(), message_id_part=PART)


@pytest.mark.parametrize("utf8", [False, True], ids=["ascii", "smtputf8"])
def test_sender_name_with_brackets_survives_both_wire_forms(mail_settings, utf8):
    """The "(재)" in the sender name is part of the name, not an RFC 5322 comment a reader drops."""
    message = compose(
        mail_settings.compliance, to="홍길동@example.kr", subject="구독 확인", text="본문"
    )
    wire = message_bytes(message, utf8=utf8).decode("utf-8")  # UTF-8 headers under SMTPUTF8
    sender = email.message_from_string(wire, policy=email.policy.default)["From"]
    assert sender.addresses[0].display_name == mail_settings.compliance.sender_name
    assert mail_settings.compliance.sender_name.startswith("(재)")

"""Client addresses (issue 11 item 3): proxy headers count only when the peer is a trusted proxy.

Over a real `mailer serve`: the signup rate limit and the consent ledger see the address
that ``web.trusted_proxies`` allows, never one a visitor writes into a header.
"""

from __future__ import annotations

import pytest

from mailer.web.client_address import TrustedProxies
from tests.web.serve_support import served, sign_up

FORGED = "203.0.113.7"


def test_a_forged_forwarded_for_neither_escapes_the_rate_limit_nor_enters_the_ledger(
    tmp_path, smtp_server
):
    with (
        served(tmp_path, relay=smtp_server, MAILER_SUBSCRIPTIONS__PER_IP_PER_HOUR="1") as service,
        service.client() as http,
    ):
        assert sign_up(http, "first@example.kr").status_code == 200
        assert sign_up(http, "second@example.kr").status_code == 429
        for forged in (
            {"X-Forwarded-For": FORGED},
            {"Forwarded": f"for={FORGED}"},
            {"X-Real-IP": FORGED},
        ):
            assert sign_up(http, "third@example.kr", headers=forged).status_code == 429
        ips = {entry["ip"] for entry in service.ledger() if entry["kind"] == "consent"}
    assert ips == {"127.0.0.1"}


def test_behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client(
    tmp_path, smtp_server
):
    with (
        served(
            tmp_path,
            relay=smtp_server,
            MAILER_WEB__TRUSTED_PROXIES='["127.0.0.1", "10.0.0.0/8"]',
        ) as service,
        service.client() as http,
    ):
        # A visitor's own X-Forwarded-For comes first; nginx appends what it saw, and an
        # inner proxy (10.1.2.3) appends its peer. The right-most untrusted one is the client.
        header = {"X-Forwarded-For": f"{FORGED}, 198.51.100.20, 10.1.2.3"}
        assert sign_up(http, "behind@example.kr", headers=header).status_code == 200
        # The Forwarded header is not the one this proxy is configured to set: ignored.
        other = {"Forwarded": "for=192.0.2.99"}
        assert sign_up(http, "other@example.kr", headers=other).status_code == 200
        ips = [entry["ip"] for entry in service.ledger() if entry["kind"] == "consent"]
    assert ips == ["198.51.100.20", "127.0.0.1"]


def test_forwarded_is_read_when_it_is_the_configured_header(tmp_path, smtp_server):
    with (
        served(
            tmp_path,
            relay=smtp_server,
            MAILER_WEB__TRUSTED_PROXIES='["127.0.0.1"]',
            MAILER_WEB__PROXY_HEADER="forwarded",
        ) as service,
        service.client() as http,
    ):
        header = {"Forwarded": f'for={FORGED};proto=https, for="[2001:db8::17]:4711"'}
        assert sign_up(http, "six@example.kr", headers=header).status_code == 200
        ignored = {"X-Forwarded-For": "192.0.2.99"}
        assert sign_up(http, "four@example.kr", headers=ignored).status_code == 200
        ips = [entry["ip"] for entry in service.ledger() if entry["kind"] == "consent"]
    assert ips == ["2001:db8::17", "127.0.0.1"]


TRUSTED = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "::1"], header="x-forwarded-for")


@pytest.mark.parametrize(
    ("peer", "value", "client"),
    [
        # An untrusted peer: its headers say nothing.
        ("198.51.100.1", "203.0.113.7", "198.51.100.1"),
        # A trusted peer without the header: the peer is the client.
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "", "127.0.0.1"),
        # Right-most untrusted, past every trusted hop.
        ("127.0.0.1", "203.0.113.7, 198.51.100.2", "198.51.100.2"),
        ("10.0.0.5", "203.0.113.7,198.51.100.2 , 10.9.9.9", "198.51.100.2"),
        # Every hop trusted: the left-most is as far as we can see.
        ("127.0.0.1", "10.0.0.7, 10.0.0.8", "10.0.0.7"),
        # A hop we cannot read ends the walk at the last hop we trust.
        ("127.0.0.1", "203.0.113.7, garbage", "127.0.0.1"),
        ("127.0.0.1", "203.0.113.7, 10.0.0.9, unknown", "127.0.0.1"),
        # Ports and brackets are tolerated; IPv4-mapped IPv6 peers are IPv4.
        ("127.0.0.1", "[2001:db8::1]:443", "2001:db8::1"),
        ("127.0.0.1", "198.51.100.3:5555", "198.51.100.3"),
        ("::ffff:127.0.0.1", "198.51.100.4", "198.51.100.4"),
        ("::ffff:198.51.100.9", "203.0.113.7", "198.51.100.9"),
    ],
)
def test_x_forwarded_for_resolution(peer, value, client):
    headers = [] if value is None else [value]
    assert TRUSTED.client_address(peer, headers) == client


@pytest.mark.parametrize(
    ("values", "client"),
    [
        (["for=203.0.113.7"], "203.0.113.7"),
        (['for="_hidden", for=198.51.100.2;proto=https'], "198.51.100.2"),
        (['For="[2001:db8:cafe::17]:4711"'], "2001:db8:cafe::17"),
        (["for=203.0.113.7", "for=198.51.100.5;by=10.0.0.1"], "198.51.100.5"),
        (["for=198.51.100.2, for=_hidden"], "127.0.0.1"),
        (["proto=https;host=example.kr"], "127.0.0.1"),
        (["for=10.0.0.3"], "10.0.0.3"),
    ],
)
def test_forwarded_resolution(values, client):
    proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8"], header="forwarded")
    assert proxies.client_address("127.0.0.1", values) == client


def test_no_trusted_proxies_means_the_peer_always():
    nobody = TrustedProxies([], header="x-forwarded-for")
    assert nobody.client_address("127.0.0.1", ["203.0.113.7"]) == "127.0.0.1"
    assert nobody.client_address(None, ["203.0.113.7"]) is None

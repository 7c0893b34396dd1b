"""Prove the test doubles (SMTP relay, feed server) and the network guard behave as documented."""

from __future__ import annotations

import asyncio
import os
import smtplib
import socket
import subprocess
import sys
import threading
from email.message import EmailMessage

import aiosmtplib
import httpx
import pytest

from tests.helpers import cli_env
from tests.support import network
from tests.support.chaos_relay import ChaosRelay
from tests.support.feed_server import FeedServer
from tests.support.smtp_server import FaultySMTPServer

SENDER = "digest@mailer.example"
RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>Bio</title></channel></rss>"


def make_message(to: str = "reader@example.com", subject: str = "Weekly digest") -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = subject
    message.set_content("Hello from the digest.\n")
    return message


async def send_async(server: FaultySMTPServer, message: EmailMessage, **kwargs):
    return await aiosmtplib.send(
        message, hostname=server.host, port=server.port, timeout=5, **kwargs
    )


def send_sync(server: FaultySMTPServer, message: EmailMessage) -> None:
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.send_message(message)


# -- SMTP relay --------------------------------------------------------------------------


def test_accepts_and_records_message_with_smtplib(smtp_server: FaultySMTPServer) -> None:
    send_sync(smtp_server, make_message())

    [received] = smtp_server.messages
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ["reader@example.com"]
    assert received.message["Subject"] == "Weekly digest"
    assert received.message.get_content() == "Hello from the digest.\n"
    assert [c.command for c in smtp_server.commands] == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert ("RCPT", "reader@example.com") in smtp_server.commands
    assert smtp_server.connections == 1

    smtp_server.clear()
    assert (smtp_server.messages, smtp_server.commands, smtp_server.connections) == ([], [], 0)


async def test_rcpt_451_once_then_accepts(smtp_server: FaultySMTPServer) -> None:
    smtp_server.fail("RCPT", 451, "4.3.0 try later")

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await send_async(smtp_server, make_message())
    assert refused.value.recipients[0].code == 451
    assert smtp_server.messages == []

    await send_async(smtp_server, make_message())
    assert len(smtp_server.messages) == 1


async def test_when_filters_by_recipient_and_times_none_lasts_until_reset(
    smtp_server: FaultySMTPServer,
) -> None:
    smtp_server.fail(
        "RCPT", 550, "no such user", times=None, when=lambda addr: addr == "bounce@example.com"
    )

    for _ in range(2):
        errors, _ = await send_async(
            smtp_server, make_message(), recipients=["ok@example.com", "bounce@example.com"]
        )
        assert errors["bounce@example.com"].code == 550
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ok@example.com"]] * 2

    smtp_server.reset_faults()
    errors, _ = await send_async(smtp_server, make_message(to="bounce@example.com"))
    assert errors == {}


async def test_mail_550_refuses_sender(smtp_server: FaultySMTPServer) -> None:
    smtp_server.fail("MAIL", 550, "5.7.1 sender blocked")

    with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
        await send_async(smtp_server, make_message())
    assert refused.value.code == 550
    assert refused.value.sender == SENDER
    assert smtp_server.messages == []


async def test_data_451_records_nothing(smtp_server: FaultySMTPServer) -> None:
    smtp_server.fail("DATA", 451, "queue full")

    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send_async(smtp_server, make_message())
    assert refused.value.code == 451
    assert smtp_server.messages == []


async def test_drop_on_data_disconnects_without_delivering(smtp_server: FaultySMTPServer) -> None:
    smtp_server.drop("DATA")

    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await send_async(smtp_server, make_message())
    assert smtp_server.messages == []

    await send_async(smtp_server, make_message())  # the fault was used up
    assert len(smtp_server.messages) == 1


def test_drop_after_accept_delivers_but_client_sees_disconnect(
    smtp_server: FaultySMTPServer,
) -> None:
    smtp_server.drop("DATA", after_accept=True)

    with pytest.raises(smtplib.SMTPServerDisconnected):
        send_sync(smtp_server, make_message(subject="Maybe twice"))
    [received] = smtp_server.messages
    assert received.message["Subject"] == "Maybe twice"


async def test_drop_on_rcpt_disconnects(smtp_server: FaultySMTPServer) -> None:
    smtp_server.drop("RCPT", when=lambda addr: addr.endswith("@flaky.example"))

    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await send_async(smtp_server, make_message(to="a@flaky.example"))
    assert smtp_server.commands[-1] == ("RCPT", "a@flaky.example")


def test_stop_and_start_keep_the_same_port(smtp_server: FaultySMTPServer) -> None:
    port = smtp_server.port
    send_sync(smtp_server, make_message(subject="before"))

    smtp_server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((smtp_server.host, port), timeout=1).close()

    smtp_server.start()
    assert smtp_server.port == port
    send_sync(smtp_server, make_message(subject="after"))
    assert [m.message["Subject"] for m in smtp_server.messages] == ["before", "after"]
    assert smtp_server.connections == 2


def test_stop_closes_open_sessions(smtp_server: FaultySMTPServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.ehlo()
        smtp_server.stop()
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()


def test_the_chaos_relay_injects_each_fault_and_counts_it() -> None:
    relay = ChaosRelay(temp_failure_rate=1.0, drop_rate=0.0, refused={"gone@example.com"})
    relay.start()
    try:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            send_sync(relay, make_message(to="gone@example.com"))
        with pytest.raises(smtplib.SMTPDataError, match="try again later"):
            send_sync(relay, make_message(to="later@example.com"))
        assert relay.copies == []
        dropping = ChaosRelay(temp_failure_rate=0.0, drop_rate=1.0)
        with dropping, smtplib.SMTP(dropping.host, dropping.port, timeout=5) as client:
            message = make_message(to="maybe@example.com")
            message["Message-ID"] = "<e1.s2.x@example.com>"
            with pytest.raises(smtplib.SMTPServerDisconnected):
                client.send_message(message)
        # The message was kept, though its reply was lost; a stop cuts open sessions.
        assert dropping.copies == [("<e1.s2.x@example.com>", "maybe@example.com")]
        assert dropping.injected == {"dropped": 1}
        with smtplib.SMTP(relay.host, relay.port, timeout=5) as client:
            client.ehlo()
            relay.stop()
        assert relay.cut == 1
    finally:
        relay.stop()
    assert relay.injected == {"refused": 1, "deferred": 1}


def test_fault_arguments_are_validated() -> None:
    server = FaultySMTPServer()
    with pytest.raises(ValueError):
        server.fail("EHLO")
    with pytest.raises(ValueError):
        server.fail("RCPT", code=250)
    with pytest.raises(ValueError):
        server.drop("RCPT", after_accept=True)
    with pytest.raises(ValueError):
        server.drop("DATA", times=0)


# -- feed server -------------------------------------------------------------------------


async def test_etag_revalidation_gets_304(feed_server: FeedServer) -> None:
    url = feed_server.add("/rss", RSS)
    async with httpx.AsyncClient() as client:
        first = await client.get(url)
        assert first.status_code == 200
        assert first.content == RSS
        assert first.headers["content-type"] == "application/rss+xml; charset=utf-8"
        etag = first.headers["etag"]

        second = await client.get(url, headers={"If-None-Match": etag})
        assert second.status_code == 304
        assert second.content == b""
        assert second.headers["etag"] == etag

        feed_server.add("/rss", RSS + b"<!-- new -->")
        third = await client.get(url, headers={"If-None-Match": etag})
        assert third.status_code == 200
        assert third.headers["etag"] != etag

    assert [r.headers.get("if-none-match") for r in feed_server.requests] == [None, etag, etag]


def test_last_modified_revalidation_gets_304(feed_server: FeedServer) -> None:
    url = feed_server.add("/atom", RSS, etag=False)
    first = httpx.get(url)
    assert "etag" not in first.headers
    stamp = first.headers["last-modified"]

    assert httpx.get(url, headers={"If-Modified-Since": stamp}).status_code == 304

    feed_server.add("/atom", RSS + b" ", etag=False)  # same second, still strictly newer
    changed = httpx.get(url, headers={"If-Modified-Since": stamp})
    assert changed.status_code == 200
    assert changed.headers["last-modified"] != stamp


def test_redirect_is_followed(feed_server: FeedServer) -> None:
    feed_server.add("/new.xml", RSS)
    old = feed_server.redirect("/old.xml", "/new.xml")

    response = httpx.get(old, follow_redirects=True)
    assert response.status_code == 200
    assert str(response.url) == feed_server.url("/new.xml")
    assert [r.status_code for r in response.history] == [301]
    assert [r.path for r in feed_server.requests] == ["/old.xml", "/new.xml"]


def test_set_status_overrides_and_restores(feed_server: FeedServer) -> None:
    url = feed_server.add("/rss", RSS)

    feed_server.set_status("/rss", 410)
    assert httpx.get(url).status_code == 410

    feed_server.set_status("/rss", 503, headers={"Retry-After": "120"})
    unavailable = httpx.get(url)
    assert (unavailable.status_code, unavailable.headers["retry-after"]) == (503, "120")

    feed_server.set_status("/rss", 200)
    assert httpx.get(url).content == RSS
    assert httpx.get(feed_server.url("/missing")).status_code == 404


async def test_delay_trips_client_timeout_and_close_wakes_the_stalled_handler() -> None:
    feeds = FeedServer()
    try:
        url = feeds.add("/slow", RSS, delay=3600.0)
        async with httpx.AsyncClient(timeout=0.2) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(url)
    finally:
        # close() joins the handler threads: it returns at all only if it woke the one
        # stalled for an hour (the deadline is there to fail, not to measure).
        closing = threading.Thread(target=feeds.close)
        closing.start()
        closing.join(timeout=60)
    assert not closing.is_alive(), "close() waited for the stalled handler"


async def test_drip_defeats_whole_response_deadline(feed_server: FeedServer) -> None:
    url = feed_server.add("/drip", b"x" * 64, drip=0.1, chunk_size=8)  # ~0.7 s overall
    async with httpx.AsyncClient(timeout=1.0) as client:
        # Each chunk beats the per-read timeout; only an overall deadline catches this.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await client.get(url)

        response = await client.get(url)
    assert response.content == b"x" * 64


# ----------------------------------------------------------------------------- network guard

BEYOND_LOOPBACK = ("192.0.2.1", 80)  # TEST-NET-1 (RFC 5737): never a real host


def test_the_guard_refuses_a_connection_beyond_loopback_and_names_the_host():
    with network.expect_refusals() as refused:
        with pytest.raises(network.BlockedConnection, match=r"connect to 192\.0\.2\.1:80"):
            socket.create_connection(BEYOND_LOOPBACK, timeout=5)
        with pytest.raises(network.BlockedConnection, match="resolve news.example.org:443"):
            socket.getaddrinfo("news.example.org", 443)
    assert len(refused) == 2


def test_the_guard_lets_loopback_through():
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname()[:2], timeout=5):
            pass
    assert socket.getaddrinfo("localhost", 80)


def test_the_guard_refuses_in_a_subprocess_too():
    connect = f"import socket; socket.create_connection({BEYOND_LOOPBACK!r}, timeout=5)"
    with network.expect_refusals() as refused:
        result = subprocess.run(
            [sys.executable, "-c", connect],
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "BlockedConnection" in result.stderr and "192.0.2.1:80" in result.stderr
    [line] = refused
    assert "connect to 192.0.2.1:80" in line and f"(pid {os.getpid()})" not in line


def test_a_refusal_the_code_swallowed_still_fails_the_test():
    try:
        socket.create_connection(BEYOND_LOOPBACK, timeout=5)
    except OSError:
        pass  # as code under test may do with any connection error
    with pytest.raises(pytest.fail.Exception, match=r"beyond loopback:\n.*192\.0\.2\.1:80"):
        network.fail_if_tried()

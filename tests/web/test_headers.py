"""Security headers on every response and HEAD wherever GET is (issue 11 item 10), over a real uvicorn.

The route list comes from the app itself: a new GET route is requested here with GET and
HEAD without anyone adding it to this file (a path parameter with no sample fails loudly).
"""

from __future__ import annotations

import httpx
import pytest

from mailer.bootstrap import build_context
from mailer.digest import create_edition
from mailer.seed import initialise
from mailer.store.db import write_transaction
from mailer.web.app import create_app
from tests.digest_data import MONDAY, mark_sent, week_of_news
from tests.served_app import client, serve_app
from tests.web.serve_support import get_routes

#: A value for every path parameter of a GET route; edition 1 and session 2027-1 exist.
SAMPLES = {
    "token": "NoSuchToken0123456789abcdefXYZ",
    "number": "1",
    "key": "no-such-key",
    "name": "digest.subject.j2",
    "session_id": "2027-1",
}


def assert_security_headers(response: httpx.Response, *, framing: str = "'none'") -> None:
    what = f"{response.request.method} {response.request.url.path} → {response.status_code}"
    csp = response.headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp, what
    assert f"frame-ancestors {framing}" in csp, what
    assert response.headers.get("x-content-type-options") == "nosniff", what
    assert response.headers.get("referrer-policy") == "no-referrer", what


@pytest.fixture
def site(make_settings, database_url):
    """A development app with the outbox page (loopback), a sent edition 1, and its context."""
    context = build_context(make_settings(database_url=database_url))
    try:
        initialise(context)
        with write_transaction(context.engine) as conn:
            week_of_news(conn)
        edition = create_edition(context, schedule="digest", scheduled_for=MONDAY, now=MONDAY)
        with write_transaction(context.engine) as conn:
            mark_sent(conn, edition.id)
        app = create_app(context, listen_host="127.0.0.1")
        with serve_app(context, app=app) as base, client(base) as http:
            yield app, http
    finally:
        context.close()


def test_every_get_route_answers_head_with_the_same_status_and_headers(site):
    app, http = site
    get_routes_ = [path for path, methods in get_routes(app) if "GET" in methods]
    assert {"/healthz", "/", "/archive/{number}", "/seminar/{session_id}.ics", "/outbox"} <= set(
        get_routes_
    )
    for path_format in get_routes_:
        try:
            path = path_format.format(**SAMPLES)
        except KeyError as missing:
            raise AssertionError(f"add a sample value for {missing} of {path_format}") from None
        got, head = http.get(path), http.head(path)
        assert head.status_code == got.status_code != 405, path
        assert head.content == b"", path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path
        framing = "'self'" if path_format == "/archive/{number}" else "'none'"
        for response in (got, head):
            assert_security_headers(response, framing=framing)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/no-such-page"),  # Starlette's JSON 404
        ("GET", "/archive/not-a-number"),  # FastAPI's JSON validation error (422)
        ("GET", "/archive/999"),  # our 404 page
        ("DELETE", "/subscribe"),  # 405
        ("PUT", "/healthz"),  # 405 on a GET route
        ("POST", "/unsubscribe/x"),  # a page from a POST
        ("GET", "/seminar/2099-9.ics"),
    ],
)
def test_errors_carry_the_headers_too(site, method, path):
    _, http = site
    response = http.request(method, path)
    assert response.status_code in (200, 404, 405, 422), response.status_code
    assert_security_headers(response)


async def test_the_500_of_a_crash_carries_the_headers(make_settings, tmp_path):
    """An unmigrated database makes /archive raise: Starlette's error page answers, with headers."""
    context = build_context(make_settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    try:
        transport = httpx.ASGITransport(
            app=create_app(context, worker=False), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            for method in ("GET", "HEAD"):
                response = await http.request(method, "/archive")
                assert response.status_code == 500
                assert_security_headers(response)
    finally:
        context.close()

"""The public HTTP contract through a real uvicorn server: signup, confirmation, RFC 8058 one-click, preferences."""

from __future__ import annotations

import re
import socket
import threading

import httpx
import pytest
from sqlalchemy import func, select

from mailer.bootstrap import build_context
from mailer.seed import initialise
from mailer.store.tables import consent_events, notices, subscribers
from tests.helpers import link_token
from tests.served_app import client, serve_app, wait_for
from tests.web.serve_support import confirmation_path

GMAIL_BODY = b"List-Unsubscribe=One-Click"


@pytest.fixture
def site(context):
    initialise(context)
    with serve_app(context) as base, client(base) as http:
        yield http, context


def rows(ctx, table, *where):
    with ctx.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).where(*where)).mappings()]


def count(ctx, table) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def signup_form(http: httpx.Client, **fields) -> httpx.Response:
    page = http.get("/subscribe")
    assert page.status_code == 200
    data = {
        "csrf_token": hidden(page.text, "csrf_token"),
        "consent_version": hidden(page.text, "consent_version"),
        "lang": "ko",
        "consent": "yes",
        "website": "",
    }
    data.update(fields)
    return http.post("/subscribe", data=data, follow_redirects=True)


def one_click(http: httpx.Client, path: str, **kw) -> httpx.Response:
    """POST exactly as Gmail does (compliance.md): form-urlencoded, 26 bytes, no cookie."""
    http.cookies.clear()
    return http.post(
        path,
        content=GMAIL_BODY,
        headers={"Content-Type": "application/x-www-form-urlencoded", **kw.pop("headers", {})},
        **kw,
    )


def test_signup_confirm_and_ledger_over_http(site, smtp_server):
    http, ctx = site
    answer = signup_form(http, email="Reader@Example.kr", name="홍길동", organisation="시흥대학교")
    assert answer.status_code == 200
    assert "메일함을 확인해 주세요" in answer.text
    path = confirmation_path(smtp_server, "reader@example.kr")

    page = http.get(path)
    assert page.status_code == 200 and "구독 확인" in page.text
    assert rows(ctx, subscribers)[0]["status"] == "pending"  # a GET (scanner) confirms nothing
    done = http.post(
        path,
        data={"csrf_token": hidden(page.text, "csrf_token"), "lang": "ko"},
        headers={"User-Agent": "PhoneBrowser/1.0"},
    )
    assert done.status_code == 200 and "구독을 환영합니다" in done.text
    [row] = rows(ctx, subscribers)
    assert row["status"] == "active" and row["name"] == "홍길동"
    assert row["organisation"] == "시흥대학교" and row["source"] == "web"
    assert f'href="/preferences/{link_token(row)}' in done.text
    # A second click (or a back button) answers "already confirmed".
    again = http.get(path)
    assert again.status_code == 200 and "이미 구독이 확인된" in again.text

    wait_for(
        lambda: any("수신 동의 처리 결과" in m.message["Subject"] for m in smtp_server.messages)
    )
    kinds = [e["kind"] for e in rows(ctx, consent_events)]
    assert kinds[:2] == ["consent", "notice"] and "confirmation" in kinds
    confirmation = next(e for e in rows(ctx, consent_events) if e["kind"] == "confirmation")
    assert confirmation["ip"] == "127.0.0.1" and confirmation["user_agent"] == "PhoneBrowser/1.0"


def test_the_answer_is_the_same_for_known_and_unknown_addresses(site, smtp_server):
    http, _ = site
    first = signup_form(http, email="known@example.kr")
    confirmation_path(smtp_server, "known@example.kr")
    known = signup_form(http, email="known@example.kr")
    unknown = signup_form(http, email="stranger@example.kr")
    assert first.status_code == known.status_code == unknown.status_code == 200
    assert first.text == known.text == unknown.text


def test_forged_form_without_csrf_is_refused_and_nothing_is_stored(site, smtp_server):
    http, ctx = site
    answer = http.post(
        "/subscribe", data={"email": "victim@example.kr", "consent": "yes", "csrf_token": "x"}
    )
    assert answer.status_code == 400
    assert "보안 확인 시간이 지났습니다" in answer.text
    assert 'value="victim@example.kr"' in answer.text  # nothing the person typed is lost
    assert count(ctx, subscribers) == count(ctx, consent_events) == 0


def test_honeypot_gets_the_normal_answer_and_nothing_happens(site, smtp_server):
    http, ctx = site
    answer = signup_form(http, email="bot@example.kr", website="http://spam.example")
    assert answer.status_code == 200 and "메일함을 확인해 주세요" in answer.text
    assert count(ctx, subscribers) == count(ctx, notices) == 0


def test_field_errors_are_shown_next_to_the_field(site, smtp_server):
    http, ctx = site
    page = http.get("/subscribe")
    body = (
        "csrf_token="
        + hidden(page.text, "csrf_token")
        + "&consent_version="
        + hidden(page.text, "consent_version")
        + "&email=a%40example.kr%0D%0ABcc%3A+all%40example.kr&name="
        + "x" * 101
    )
    answer = http.post(
        "/subscribe", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 400
    html = answer.text
    assert re.search(
        r'id="email"[^>]*aria-describedby="email-hint email-error"[^>]*aria-invalid="true"', html
    )
    assert (
        '<p class="field-error" id="email-error">줄바꿈이나 제어 문자는 쓸 수 없습니다.</p>' in html
    )
    assert (
        '<p class="field-error" id="name-error">너무 깁니다. 100자 이내로 입력해 주세요.</p>'
        in html
    )
    assert '<p class="field-error" id="consent-error">' in html
    assert count(ctx, subscribers) == count(ctx, consent_events) == count(ctx, notices) == 0


def test_a_poster_tag_is_recorded_as_the_signup_source(site, smtp_server):
    http, ctx = site
    prefilled = http.get("/subscribe?src=poster-2026&email=tagged%40example.kr")
    assert 'name="src" value="poster-2026"' in prefilled.text
    assert 'value="tagged@example.kr"' in prefilled.text
    assert signup_form(http, email="tagged@example.kr", src="poster-2026").status_code == 200
    assert signup_form(http, email="foreign@example.kr", src="a b<").status_code == 200
    sources = {row["email"]: row["source"] for row in rows(ctx, subscribers)}
    assert sources == {"tagged@example.kr": "web:poster-2026", "foreign@example.kr": "web"}


def _active_subscriber(http, ctx, smtp_server, address: str) -> str:
    signup_form(http, email=address)
    path = confirmation_path(smtp_server, address)
    page = http.get(path)
    http.post(path, data={"csrf_token": hidden(page.text, "csrf_token")})
    return link_token(rows(ctx, subscribers, subscribers.c.email == address)[0])


def test_one_click_unsubscribe_exactly_as_gmail_sends_it(site, smtp_server):
    http, ctx = site
    token = _active_subscriber(http, ctx, smtp_server, "leaver@example.kr")
    # GET shows one button and changes nothing (link scanners).
    page = http.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and "<button" in page.text
    assert rows(ctx, subscribers)[0]["status"] == "active"

    answer = one_click(http, f"/unsubscribe/{token}", headers={"User-Agent": "GoogleOneClick"})
    assert answer.status_code == 200 and "location" not in answer.headers
    assert "set-cookie" not in answer.headers
    assert rows(ctx, subscribers)[0]["status"] == "unsubscribed"
    again = one_click(http, f"/unsubscribe/{token}")
    forged = one_click(http, "/unsubscribe/forged-token-that-matches-nobody")
    assert again.status_code == 200
    # The same success page for the second press (already unsubscribed is still true).
    assert answer.text.replace(token, "T") == again.text.replace(token, "T")
    # A token that names nobody never hears "unsubscribed" (issue 15, item 5).
    assert forged.status_code == 404 and "location" not in forged.headers
    assert "수신거부되었습니다" not in forged.text and "링크를 확인할 수 없습니다" in forged.text
    withdrawals = [e for e in rows(ctx, consent_events) if e["kind"] == "withdrawal"]
    assert len(withdrawals) == 1
    assert (
        withdrawals[0]["source"] == "one-click" and withdrawals[0]["user_agent"] == "GoogleOneClick"
    )
    wait_for(
        lambda: any("수신거부 처리 결과" in m.message["Subject"] for m in smtp_server.messages)
    )


def test_one_click_accepts_multipart_and_ignores_other_posts(site, smtp_server):
    http, ctx = site
    token = _active_subscriber(http, ctx, smtp_server, "multi@example.kr")
    http.cookies.clear()
    empty = http.post(f"/unsubscribe/{token}", content=b"", headers={"Content-Type": "text/plain"})
    assert empty.status_code == 200 and "<button" in empty.text
    assert rows(ctx, subscribers)[0]["status"] == "active"
    answer = http.post(f"/unsubscribe/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert answer.status_code == 200 and "수신거부되었습니다" in answer.text
    assert rows(ctx, subscribers)[0]["status"] == "unsubscribed"


def test_relay_down_during_signup_still_answers_and_retries(site, smtp_server):
    http, ctx = site
    smtp_server.stop()
    answer = signup_form(http, email="patient@example.kr")
    assert answer.status_code == 200 and "메일함을 확인해 주세요" in answer.text
    notice = wait_for(lambda: [n for n in rows(ctx, notices) if n["state"] == "deferred"])[0]
    assert notice["to_address"] == "patient@example.kr" and notice["last_error"]
    smtp_server.start()
    import asyncio

    from mailer import delivery

    later = notice["next_attempt_at"]
    assert asyncio.run(delivery.deliver_notices(ctx, now=later)) == 1
    confirmation_path(smtp_server, "patient@example.kr")


@pytest.fixture
def silent_relay():
    """A TCP listener that accepts connections and never says a word (a hung relay)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_hung_relay_does_not_hold_up_the_answer(make_settings, database_url, silent_relay):
    settings = make_settings(
        database_url=database_url, smtp={"host": "127.0.0.1", "port": silent_relay, "timeout": 60}
    )
    ctx = build_context(settings)
    try:
        initialise(ctx)
        with serve_app(ctx) as base, httpx.Client(base_url=base, timeout=5) as http:
            # The SMTP timeout is 60 s; answering inside 5 s proves the mail is not awaited.
            answer = signup_form(http, email="quick@example.kr")
            assert answer.status_code == 200 and "메일함을 확인해 주세요" in answer.text
            assert http.get("/subscribe").status_code == 200
    finally:
        ctx.close()


def test_per_ip_limit_answers_429(make_settings, database_url, smtp_server):
    settings = make_settings(
        database_url=database_url,
        smtp={"host": smtp_server.host, "port": smtp_server.port},
        subscriptions={"per_ip_per_hour": 2},
    )
    ctx = build_context(settings)
    try:
        initialise(ctx)
        with serve_app(ctx) as base, client(base) as http:
            assert signup_form(http, email="one@example.kr").status_code == 200
            assert signup_form(http, email="two@example.kr").status_code == 200
            third = signup_form(http, email="three@example.kr")
            assert third.status_code == 429 and third.headers["retry-after"] == "3600"
            assert "잠시 후 다시 시도해 주세요" in third.text
            assert {r["email"] for r in rows(ctx, subscribers)} == {
                "one@example.kr",
                "two@example.kr",
            }
    finally:
        ctx.close()


def test_preferences_page(site, smtp_server):
    http, ctx = site
    token = _active_subscriber(http, ctx, smtp_server, "pref@example.kr")
    page = http.get(f"/preferences/{token}")
    assert page.status_code == 200 and "pref@example.kr" in page.text and "구독 중" in page.text
    csrf = hidden(page.text, "csrf_token")

    saved = http.post(
        f"/preferences/{token}/profile",
        data={"csrf_token": csrf, "name": "새 이름", "organisation": ""},
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith("done=saved")
    assert rows(ctx, subscribers)[0]["name"] == "새 이름"
    bad = http.post(f"/preferences/{token}/profile", data={"csrf_token": csrf, "name": "a\r\nb"})
    assert bad.status_code == 400 and 'id="name-error"' in bad.text
    assert (
        http.post(f"/preferences/{token}/pause", data={"csrf_token": "forged"}).status_code == 400
    )
    assert rows(ctx, subscribers)[0]["status"] == "active"
    assert http.post(f"/preferences/{token}/pause", data={"csrf_token": csrf}).status_code == 303
    assert rows(ctx, subscribers)[0]["status"] == "paused"
    assert "일시 중지" in http.get(f"/preferences/{token}").text
    assert http.post(f"/preferences/{token}/resume", data={"csrf_token": csrf}).status_code == 303
    assert rows(ctx, subscribers)[0]["status"] == "active"

    # The data download and the erasure are not here (tests/web/test_my_data.py).
    assert http.get(f"/preferences/{token}/data.json").status_code >= 400
    left = http.post(f"/preferences/{token}/unsubscribe", data={"csrf_token": csrf})
    assert left.status_code == 303 and rows(ctx, subscribers)[0]["status"] == "unsubscribed"
    assert "수신거부되었습니다" in http.get(left.headers["location"]).text
    assert one_click(http, f"/unsubscribe/{token}").status_code == 200  # old mail still works


def test_english_pages(site):
    http, _ = site
    by_header = http.get("/subscribe", headers={"Accept-Language": "en-GB,en;q=0.9,ko;q=0.5"})
    assert 'lang="en"' in by_header.text and "Email address (required)" in by_header.text
    assert "Purpose:" in by_header.text  # the English consent text
    assert "이메일 주소 (필수)" in http.get("/subscribe", headers={"Accept-Language": "ko-KR"}).text
    by_switch = http.get("/subscribe?lang=en", headers={"Accept-Language": "ko"})
    assert "Subscribe to the newsletter" in by_switch.text
    assert 'href="/subscribe?lang=ko"' in by_switch.text
    refused = http.post("/subscribe", data={"lang": "en", "email": "x"})
    assert refused.status_code == 400 and "This form expired" in refused.text


def test_security_headers_and_no_third_party_assets(site):
    http, _ = site
    page = http.get("/subscribe")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "httponly" in page.headers["set-cookie"].lower()
    assert not re.search(r'(src|href)="(https?:)?//', page.text)


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        (
            "POST",
            "/subscribe",
            {
                "content": b"x" * 100_000,
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
        ),
        (
            "POST",
            "/subscribe",
            {
                "content": b"--zz\r\nbroken",
                "headers": {"Content-Type": "multipart/form-data; boundary=zz"},
            },
        ),
        (
            "POST",
            "/subscribe",
            {
                "content": b"email=%ff%fe%00&name=\xff\xfe",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
        ),
        (
            "POST",
            "/subscribe",
            {"content": b'{"email": "a@b.kr"}', "headers": {"Content-Type": "application/json"}},
        ),
        (
            "POST",
            "/subscribe",
            {
                "content": b"&".join(b"f%d=1" % i for i in range(2000)),
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
        ),
        ("POST", "/subscribe", {"files": {"email": ("a.txt", b"file-instead-of-text")}}),
        ("GET", "/subscribe?email=%00%0d%0a&lang=xx&name=" + "a" * 5000, {}),
        ("GET", "/confirm/" + "A" * 3000, {}),
        ("POST", "/confirm/%E2%80%AE", {"data": {"csrf_token": "x"}}),
        (
            "POST",
            "/unsubscribe/" + "t" * 3000,
            {
                "content": GMAIL_BODY,
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
        ),
        (
            "POST",
            "/unsubscribe/abc",
            {
                "content": b"x" * 100_000,
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
        ),
        (
            "POST",
            "/unsubscribe/abc",
            {"content": b"--b\r\n", "headers": {"Content-Type": "multipart/form-data; boundary=b"}},
        ),
        ("GET", "/preferences/%00", {}),
        ("GET", "/preferences/nobody/data.json", {}),
        ("POST", "/preferences/nobody/erase", {"data": {"confirm": "yes"}}),
        ("GET", "/my-data/nobody/data.json", {}),
        ("POST", "/my-data/nobody/erase", {"data": {"confirm": "yes"}}),
        ("POST", "/my-data", {"data": {"email": "x" * 5000}}),
        ("GET", "/my-data/%00", {}),
        ("POST", "/preferences/nobody/drop-tables", {}),
        ("GET", "/subscribe", {"headers": {"Accept-Language": "en;q=abc, *;q=0.1, " + "x" * 3000}}),
    ],
)
def test_no_input_produces_a_server_error(site, method, path, kwargs):
    http, ctx = site
    answer = http.request(method, path, **kwargs)
    assert answer.status_code < 500, answer.text[:500]
    assert count(ctx, subscribers) == 0

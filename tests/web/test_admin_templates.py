"""The template pages over real HTTP: list, editor, live preview and its script-free frame, save, versions, diff, rollback, reset, test send.

Issue 12 items 4 and 5, on SQLite and PostgreSQL, with this week's stories in the
database and a test relay (aiosmtpd) that receives the test send, DKIM-signed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import dkim
import pytest

from mailer import digest
from mailer.seed import initialise
from mailer.store.db import write_transaction
from mailer.web.admin.preview_store import PreviewStore
from tests.digest_data import week_of_news
from tests.mail.test_prepared import dns_stub, rsa_key
from tests.web.admin_support import add_staff, admin_site
from tests.web.serve_support import hidden

SUBJECT, HTML, TEXT = "digest.subject.j2", "digest.html.j2", "digest.txt.j2"
EDITOR = "lee@example.kr"
FRAME_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)


@pytest.fixture
def site(make_settings, database_url, smtp_server, tmp_path):
    private_key, public_key = rsa_key()
    key_path = tmp_path / "dkim.pem"
    key_path.write_bytes(private_key)
    with admin_site(
        make_settings,
        database_url,
        smtp={"host": smtp_server.host, "port": smtp_server.port},
        dkim={
            "enabled": True,
            "domain": "example.or.kr",
            "selector": "mailer",
            "private_key_path": str(key_path),
        },
    ) as site:
        initialise(site.context)
        with write_transaction(site.context.engine) as conn:
            week_of_news(conn, now=datetime.now(UTC))
        add_staff(site, EDITOR, "editor")
        site.public_key = public_key
        yield site


def active_source(site, name: str) -> str:
    versions = digest.template_versions(site.context, name)
    return next(version.source for version in versions if version.active)


def versions_of(site, name: str) -> list[int]:
    return sorted(version.number for version in digest.template_versions(site.context, name))


def post(http, name: str, action: str, *, fragment: bool = False, **fields: str):
    """POST one of the editor's forms with the page's CSRF token (as its buttons do)."""
    page = http.get(f"/admin/templates/{name}")
    assert page.status_code == 200, page.text
    headers = {"HX-Request": "true"} if fragment else {}
    data = {"csrf_token": hidden(page.text, "csrf_token"), **fields}
    return http.post(f"/admin/templates/{name}/{action}", data=data, headers=headers)


def greeting(source: str) -> str:
    """The text template with a new first line of prose, the way she would change the greeting."""
    return source.replace("{{ list_name }}", "{{ list_name }} — 새 인사말: 반갑습니다", 1)


def test_the_list_groups_the_templates_with_their_active_versions(site):
    http = site.log_in(EDITOR)
    page = http.get("/admin/templates")
    assert page.status_code == 200
    assert "템플릿은 메일의 틀입니다" in page.text
    body = page.text
    assert body.index("다이제스트</h2>") < body.index("안내 메일</h2>")
    for name in digest.EDITABLE_TEMPLATES:
        assert f'href="/admin/templates/{name}?lang=ko"' in body
    assert "다이제스트 · 제목" in body and "다이제스트 · HTML 본문" in body
    assert "버전 1" in body
    english = http.get("/admin/templates?lang=en")
    assert "Templates are the mails" in english.text and "Digest · HTML part" in english.text


def test_the_editor_shows_the_active_text_the_variables_and_its_scripts(site):
    http = site.log_in(EDITOR)
    page = http.get(f"/admin/templates/{HTML}")
    assert page.status_code == 200
    assert '<textarea id="source" name="source"' in page.text
    # The textarea holds the active version as it is (escaped, so the page parses).
    assert "&lt;" in page.text.split('<textarea id="source"', 1)[1].split("</textarea>", 1)[0]
    assert "vendor/codemirror.js" in page.text and "admin/templates.js" in page.text
    assert "<script>" not in page.text  # only our files run (script-src 'self')
    for variable in digest.template_variables(HTML):
        assert f"<dt><code>{variable.name}</code></dt>" in page.text
    assert f"{EDITOR} 주소로만 보냅니다" in page.text
    assert http.get("/admin/templates/no-such.html.j2").status_code == 404


def test_the_preview_fragment_shows_subject_text_and_a_frame_that_runs_no_script(site):
    http = site.log_in(EDITOR)
    source = greeting(active_source(site, TEXT))
    fragment = post(http, TEXT, "preview", fragment=True, source=source)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text  # a fragment, not a page
    assert "새 인사말: 반갑습니다" in fragment.text.split('<pre class="text-part">', 1)[1]
    assert '<p class="subject">' in fragment.text
    frames = re.findall(
        r'<iframe src="(/admin/templates/preview/[^"]+)"[^>]*sandbox="([^"]*)"', fragment.text
    )
    assert len(frames) == 2 and frames[0][0] == frames[1][0]
    assert all("allow-scripts" not in sandbox for _, sandbox in frames)
    assert 'width="375"' in fragment.text and 'width="800"' in fragment.text
    part = http.get(frames[0][0])
    assert part.status_code == 200
    assert part.headers["content-security-policy"] == FRAME_CSP
    assert '<base target="_blank">' in part.text and "<html" in part.text.lower()
    # The frame answers only to the session that rendered it.
    add_staff(site, "kim@example.kr", "admin")
    assert site.log_in("kim@example.kr").get(frames[0][0]).status_code == 410
    assert site.client().get(frames[0][0]).status_code == 303

    # Without script the 미리보기 button posts the form and the whole page comes back.
    page = post(http, TEXT, "preview", source=source, note="인사말 변경")
    assert page.status_code == 200 and "<html" in page.text
    assert "새 인사말: 반갑습니다" in page.text.split('<pre class="text-part">', 1)[1]
    assert 'value="인사말 변경"' in page.text
    assert versions_of(site, TEXT) == [1]  # a preview stores nothing


def test_a_save_with_a_mistake_is_refused_at_its_line_and_nothing_is_stored(site):
    http = site.log_in(EDITOR)
    source = active_source(site, TEXT)
    lines = source.splitlines()
    broken = "\n".join([*lines[:2], "{% if edition %}열린 블록", *lines[2:]])
    refused = post(http, TEXT, "save", source=broken, note="실수")
    assert refused.status_code == 422
    assert "저장하지 않았습니다" in refused.text
    assert 'id="save-problem"' in refused.text and "번째 줄" in refused.text
    line = int(re.search(r'id="save-problem" data-problem-line="(\d+)"', refused.text).group(1))
    assert line >= 3
    # Her text comes back as typed; nothing became a version.
    assert "{% if edition %}열린 블록" in refused.text
    assert versions_of(site, TEXT) == [1]
    assert active_source(site, TEXT) == source


def test_a_good_save_becomes_version_2_with_its_warnings(site):
    http = site.log_in(EDITOR)
    source = active_source(site, HTML)
    edited = source.replace("</body>", '<img src="https://news.example.kr/a.png"></body>', 1)
    assert edited != source
    saved = post(http, HTML, "save", source=edited, note="그림 추가")
    assert saved.status_code == 200
    assert "버전 2을(를) 저장했습니다" in saved.text
    assert "주의할 점" in saved.text and "alt" in saved.text
    assert versions_of(site, HTML) == [1, 2]
    assert active_source(site, HTML) == edited.replace("\r\n", "\n")
    [entry] = site.audit("template.save")
    assert entry["actor"] == EDITOR and entry["client_address"] == "127.0.0.1"


def test_versions_diff_rollback_and_reset(site):
    http = site.log_in(EDITOR)
    original = active_source(site, TEXT)
    assert post(http, TEXT, "save", source=greeting(original), note="인사말").status_code == 200

    listed = http.get(f"/admin/templates/{TEXT}/versions")
    assert listed.status_code == 200
    assert "버전 2" in listed.text and "버전 1" in listed.text and "사용 중" in listed.text
    assert "인사말" in listed.text and EDITOR in listed.text

    diff = http.get(f"/admin/templates/{TEXT}/versions?old=1&new=2")
    assert diff.status_code == 200 and "버전 1 → 버전 2" in diff.text
    added = re.findall(r'<li class="diff-added"><span class="sign"[^>]*>\+</span>', diff.text)
    removed = re.findall(r'<li class="diff-removed"><span class="sign"[^>]*>−</span>', diff.text)
    assert len(added) == 1 and len(removed) == 1
    assert "새 인사말: 반갑습니다" in diff.text
    # Only the change and its context are shown; the unchanged rest is folded.
    assert "바뀌지 않은" in diff.text and "줄</span>" in diff.text
    assert diff.text.count('<li class="diff-same">') <= 6
    assert http.get(f"/admin/templates/{TEXT}/versions?old=1&new=99").status_code == 404

    page = http.get(f"/admin/templates/{TEXT}/versions")
    token = hidden(page.text, "csrf_token")
    back = http.post(f"/admin/templates/{TEXT}/rollback", data={"csrf_token": token, "number": "1"})
    assert back.status_code == 200 and "버전 1의 내용으로 되돌려 버전 3" in back.text
    assert active_source(site, TEXT) == original and versions_of(site, TEXT) == [1, 2, 3]

    assert post(http, TEXT, "save", source=greeting(original)).status_code == 200
    reset = http.post(f"/admin/templates/{TEXT}/reset", data={"csrf_token": token})
    assert reset.status_code == 200 and "기본값으로 되돌려 버전 5" in reset.text
    assert active_source(site, TEXT) == original


def test_the_test_send_reaches_only_the_own_address_with_the_unsaved_text(site, smtp_server):
    http = site.log_in(EDITOR)
    source = greeting(active_source(site, TEXT))
    # A recipient in the form is not a parameter: the mail goes to the account's address.
    sent = post(http, TEXT, "test-send", source=source, to="other@example.kr", email="x@y.kr")
    assert sent.status_code == 200, sent.text
    assert f"시험 메일을 {EDITOR} 주소로 보냈습니다" in sent.text
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == [EDITOR]
    assert mail.message["Subject"].startswith("[시험 발송] ")
    assert "새 인사말: 반갑습니다" in mail.message.get_body(("plain",)).get_content()
    assert "DKIM-Signature" in mail.message
    assert dkim.verify(mail.data, dnsfunc=dns_stub(site.public_key, []))
    assert versions_of(site, TEXT) == [1]  # unsaved text was sent, nothing was saved
    [entry] = site.audit("template.test_send")
    assert entry["actor"] == EDITOR

    # A preview with an error sends nothing.
    refused = post(http, TEXT, "test-send", source="{% if %}")
    assert refused.status_code == 422 and "시험 메일을 보내지 않았습니다" in refused.text
    assert len(smtp_server.messages) == 1


def test_a_template_too_large_for_a_form_is_a_413_page(site):
    http = site.log_in(EDITOR)
    huge = "가" * 200_000
    response = post(http, TEXT, "save", source=huge)
    assert response.status_code == 413
    assert versions_of(site, TEXT) == [1]


def test_the_preview_store_is_bounded_forgets_old_previews_and_answers_only_its_session():
    store = PreviewStore(capacity=3, lifetime=60)
    keys = [store.put(1, f"<p>{n}</p>", now=0) for n in range(5)]
    assert len(store) == 3 and len(set(keys)) == 5
    assert store.get(1, keys[0], now=1) is None  # the oldest went first
    assert store.get(1, keys[4], now=1) == "<p>4</p>"
    assert store.get(2, keys[4], now=1) is None  # another session's key
    assert store.get(1, keys[4], now=60) is None  # expired
    store.put(1, "<p>new</p>", now=120)
    assert len(store) == 1

"""The template editor in Chromium: she types into CodeMirror and both preview frames follow; an endless loop is refused while the page stays usable.

Issue 12 items 4 and 10. The screenshots (375 px and 1024 px, the checks of
tests/web/test_every_page.py) are kept under ``$MAILER_TEST_SCREENSHOTS/admin``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from mailer import staff
from mailer.bootstrap import build_context
from mailer.seed import initialise
from mailer.store.db import write_transaction
from tests.digest_data import week_of_news
from tests.helpers import listening_socket
from tests.served_app import serve_app
from tests.web.admin_support import PASSWORD
from tests.web.test_every_page import WIDTHS, Photographer, sqlite_only

GREETING = "반갑습니다, 새 인사말로 인사드립니다. "
#: Ten billion steps: no sandbox range limit stops it, only the renderer's time limit.
ENDLESS = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"


@pytest.fixture
def site(make_settings, database_url, smtp_server):
    sock = listening_socket()
    settings = make_settings(
        database_url=database_url,
        base_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
        smtp={"host": smtp_server.host, "port": smtp_server.port},
        # The endless loop is stopped at this limit (10 s by default): a shorter wait.
        render={"timeout_seconds": 3},
    )
    ctx = build_context(settings)
    try:
        initialise(ctx)
        with write_transaction(ctx.engine) as conn:
            week_of_news(conn, now=datetime.now(UTC))
        staff.add_user(ctx, "lee@example.kr", role="editor", password=PASSWORD)
        with serve_app(ctx, sock=sock, worker=False) as base:
            yield base, ctx
    finally:
        ctx.close()


#: Two animation frames and a task: CodeMirror measures and redraws its lines in animation
#: frames after a resize, and the checks must not look while it does.
SETTLE = """() => new Promise((done) =>
    requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 0))))"""


#: The checks mark each element with text by an attribute; CodeMirror would take that for
#: an edit of its content and redraw the line under them, so it stops watching meanwhile.
WATCH = """(watch) => {
    const editor = document.querySelector("#template-form .cm-editor");
    const view = editor && window.mailerEditor.EditorView.findFromDOM(editor);
    if (view) watch ? view.observer.start() : view.observer.stop();
}"""


class SettlingPhotographer(Photographer):
    """The every-page checks, each width looked at once the editor has redrawn for it."""

    def look(self, name: str, *, korean: bool = True, chrome: bool = True) -> None:
        page = self.page
        resize = page.set_viewport_size

        def resize_and_settle(size) -> None:
            resize(size)
            page.evaluate(SETTLE)

        page.set_viewport_size = resize_and_settle
        page.evaluate(WATCH, False)
        try:
            super().look(name, korean=korean, chrome=chrome)
        finally:
            del page.set_viewport_size
            page.evaluate(WATCH, True)


def put_cursor_after(page, text: str) -> None:
    """Place the editor's cursor after ``text`` (CodeMirror keeps its view on its content node)."""
    found = page.evaluate(
        """(text) => {
            const editor = document.querySelector("#template-form .cm-editor");
            const view = window.mailerEditor.EditorView.findFromDOM(editor);
            const at = view.state.doc.toString().indexOf(text);
            if (at < 0) return false;
            view.dispatch({ selection: { anchor: at + text.length }, scrollIntoView: true });
            view.focus();
            return true;
        }""",
        text,
    )
    assert found, f"{text!r} is not in the editor"


def frames_show(page, text: str) -> None:
    """Both preview frames (phone and desktop) show ``text``."""
    frames = page.locator("#preview iframe")
    expect(frames).to_have_count(2)
    for index in range(2):
        expect(page.frame_locator("#preview iframe").nth(index).locator("body")).to_contain_text(
            text
        )


def look_at_preview(page, shots, name: str) -> None:
    """The preview section in the window (a full-page shot leaves the frames' insides out)."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.locator("#preview .frames").evaluate("(frames) => frames.scrollIntoView()")
        # The frames are painted by their own renderer after a resize; only the picture waits.
        page.wait_for_timeout(1000)
        page.screenshot(path=str(shots / f"{name}-{width}.png"))


@sqlite_only
def test_she_types_a_greeting_and_both_frames_follow_and_an_endless_loop_is_refused(
    site, browser, screenshots
):
    base, _ctx = site
    shots = screenshots / "admin"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="ko-KR", viewport={"width": 1024, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    camera = SettlingPhotographer(page, shots)
    try:
        page.goto(f"{base}/admin/login?next=/admin/templates")
        page.fill("#email", "lee@example.kr")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/admin/templates")
        camera.look("templates")

        page.click("text=다이제스트 · HTML 본문")
        page.wait_for_url("**/admin/templates/digest.html.j2?lang=ko")
        # The editor replaced the textarea, and the first preview came by itself.
        expect(page.locator("#template-form .cm-editor")).to_be_visible()
        expect(page.locator("#preview iframe")).to_have_count(2)
        camera.look("template-editor")

        put_cursor_after(page, '<p class="intro">')
        page.keyboard.type(GREETING)
        frames_show(page, GREETING.strip())
        expect(page.locator("#preview .subject")).not_to_be_empty()
        look_at_preview(page, shots, "template-preview")

        # An endless loop: refused with its error, and the page goes on working.
        put_cursor_after(page, GREETING)
        page.keyboard.insert_text(ENDLESS)
        problem = page.locator("#preview .problem")
        expect(problem).to_be_visible(timeout=30_000)
        expect(page.locator("#preview iframe")).to_have_count(0)
        camera.look("template-endless-loop")
        for _ in ENDLESS:
            page.keyboard.press("Backspace")
        page.keyboard.type("다시 ")
        frames_show(page, GREETING + "다시")
        expect(problem).to_have_count(0)

        # Save, and the editor says which version it is.
        page.fill("#note", "인사말을 바꿨습니다")
        page.click("#save")
        expect(page.locator("#notice")).to_contain_text("버전 2")
        camera.look("template-saved")
        page.click("text=버전 기록")
        expect(page.locator("ol.versions")).to_contain_text("인사말을 바꿨습니다")
        page.select_option("#old", "1")
        page.select_option("#new", "2")
        page.click("form.compare button")
        expect(page.locator("ol.diff li.diff-added")).to_contain_text("새 인사말")
        camera.look("template-versions")
    finally:
        context.close()
    assert not errors, errors
    assert not camera.problems, "\n".join([*camera.problems, f"(screenshots in {shots})"])

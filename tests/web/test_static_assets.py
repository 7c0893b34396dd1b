"""The vendored front-end files (issue 12 item 3): present, recorded, licensed, served, and working in Chromium.

``make assets`` (assets/build.sh) builds them with Node; these tests need no Node: they
read what the build committed, serve it through the app, and run the bundle in Chromium.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from mailer.bootstrap import build_context
from mailer.web.static_files import LONG_CACHE, SHORT_CACHE, STATIC_DIR, StaticAssets
from tests.served_app import client, serve_app

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "assets"
VENDOR = STATIC_DIR / "vendor"
SHIPPED = ["codemirror.js", "htmx.min.js"]
DIRECT = ["codemirror", "@codemirror/lang-html", "@codemirror/lang-jinja", "htmx.org"]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))


def test_the_vendored_files_are_committed_and_not_empty():
    for name in [*SHIPPED, "VERSIONS.json", "LICENSES.txt", "bundle.json"]:
        assert (VENDOR / name).stat().st_size > 0, name
    assert "assets/node_modules/" in (ROOT / ".gitignore").read_text("utf-8").splitlines()


def test_the_bundle_was_built_from_the_committed_sources():
    """A change to editor.js or the lock file without `make assets` leaves a stale bundle."""
    sources = read_json(VENDOR / "bundle.json")["sources"]
    for name, digest in sources.items():
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == digest, (
            f"assets/{name} changed since the bundle was built: run `make assets`"
        )


def test_versions_are_the_lock_files_and_name_every_shipped_package():
    versions = read_json(VENDOR / "VERSIONS.json")
    lock = read_json(ASSETS / "package-lock.json")["packages"]
    files = read_json(VENDOR / "bundle.json")["files"]
    assert sorted(files) == SHIPPED
    shipped = {name for packages in files.values() for name in packages}
    assert set(versions) == shipped
    assert set(DIRECT) <= shipped
    for name, version in versions.items():
        assert lock[f"node_modules/{name}"]["version"] == version, name


def test_every_shipped_package_has_its_licence_text():
    licences = (VENDOR / "LICENSES.txt").read_text("utf-8")
    # Each section: a heading "==> NAME VERSION (SPDX) <==", then the text up to the next one.
    sections = dict(
        re.findall(r"^==> (\S+ \S+) \(\S+\) <==\n(.*?)(?=^==> |\Z)", licences, re.M | re.S)
    )
    for name, version in read_json(VENDOR / "VERSIONS.json").items():
        text = sections.get(f"{name} {version}", "")
        assert re.search(r"permission|copyright", text, re.I), f"no licence text for {name}"


def test_no_page_loads_a_script_or_stylesheet_from_another_host():
    remote = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "templates").rglob("*")
        if path.is_file() and remote.search(path.read_text("utf-8"))
    ]
    assert not offenders, f"templates that load from another host: {offenders}"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from mailer.config import load_settings
    from tests.helpers import TEST_SECRET

    tmp = tmp_path_factory.mktemp("static")
    settings = load_settings(
        database_url=f"sqlite:///{tmp / 'mailer.db'}", data_dir=tmp / "var", secret_key=TEST_SECRET
    )
    context = build_context(settings)
    try:
        with serve_app(context, worker=False) as base, client(base) as http:
            yield http
    finally:
        context.close()


@pytest.mark.parametrize("name", SHIPPED)
def test_a_versioned_url_is_served_as_javascript_and_cached_for_a_year(served, name):
    url = StaticAssets().url(f"vendor/{name}")
    response = served.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == LONG_CACHE
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == (VENDOR / name).read_bytes()
    head = served.head(url)
    assert head.status_code == 200 and head.content == b""
    identity = served.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in identity.headers
    assert identity.content == response.content


def test_the_bundle_is_sent_compressed_to_who_accepts_it(served):
    with served.stream("GET", StaticAssets().url("vendor/codemirror.js")) as response:
        sent = sum(len(chunk) for chunk in response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    assert sent < (VENDOR / "codemirror.js").stat().st_size / 2


def test_an_unversioned_or_outdated_url_is_cached_briefly(served):
    for url in ("/static/vendor/htmx.min.js", "/static/vendor/htmx.min.js?v=000000000000"):
        response = served.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == SHORT_CACHE


def test_nothing_outside_the_static_folder_is_served(served):
    assert served.get("/static/vendor/nothing.js").status_code == 404
    assert served.get("/static/../app.py").status_code == 404
    assert served.get("/static/%2e%2e/app.py").status_code == 404


#: A digest-like template: Jinja statements and expressions inside HTML.
TEMPLATE = '<p class="hi">{% if edition.number %}{{ edition.number }}호{% endif %}</p>'


def test_the_bundle_turns_a_textarea_into_a_highlighting_editor(browser):
    page = browser.new_page()
    try:
        page.set_content(
            '<label for="body">본문</label><form><textarea id="body" name="body"></textarea></form>'
        )
        page.eval_on_selector("#body", "(area, text) => { area.value = text; }", TEMPLATE)
        page.add_script_tag(content=(VENDOR / "codemirror.js").read_text("utf-8"))
        page.evaluate(
            "() => { window.changes = []; window.editor = mailerEditor.create("
            "document.querySelector('#body'), {onChange: (v) => window.changes.push(v)}); }"
        )
        editor = page.locator(".cm-editor")
        assert editor.count() == 1
        assert page.locator("#body").is_hidden()
        assert page.locator(".cm-content").get_attribute("aria-labelledby") == "body-label"
        assert page.locator(".cm-content").inner_text() == TEMPLATE

        # Jinja keywords, the HTML tag and plain text are drawn in different colours.
        colour = """(content, word) => {
            const walker = document.createTreeWalker(content, NodeFilter.SHOW_TEXT);
            for (let node; (node = walker.nextNode()); ) {
                if (node.textContent.trim() === word) return getComputedStyle(node.parentElement).color;
            }
            return null;
        }"""
        colours = {word: page.eval_on_selector(".cm-content", colour, word) for word in ("if", "p")}
        plain = page.eval_on_selector(".cm-line", "line => getComputedStyle(line).color")
        assert None not in colours.values(), colours
        assert colours["if"] != plain and colours["p"] != plain and colours["if"] != colours["p"]

        # What is typed reaches the form's textarea and the page's change callback.
        page.locator(".cm-content").click()
        page.keyboard.press("Control+End")
        page.keyboard.type("!")
        assert page.locator("#body").input_value() == TEMPLATE + "!"
        assert page.evaluate("window.changes.at(-1)") == TEMPLATE + "!"

        # Tab leaves the editor (keyboard users are not trapped in it, issue 12 item 3).
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('.cm-editor') === null")
    finally:
        page.close()


#: The policy the admin pages are meant to run under: scripts from this origin only (no
#: inline script, no eval), CodeMirror's injected styles allowed, nothing from elsewhere.
ADMIN_CSP = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'"


def test_the_served_files_run_in_chromium_under_a_self_only_script_policy(served, browser):
    """A page of the app's origin loads both files from /static (nosniff, real content type)."""
    base = str(served.base_url).rstrip("/")
    static = StaticAssets()
    page_html = (
        '<!doctype html><html lang="ko"><body><textarea id="t">{{ edition.number }}</textarea>'
        f'<script src="{static.url("vendor/htmx.min.js")}"></script>'
        f'<script src="{static.url("vendor/codemirror.js")}"></script></body></html>'
    )
    page = browser.new_page()
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    try:
        # Only the page itself is made up; the scripts come from the running server.
        page.route(
            f"{base}/probe",
            lambda route: route.fulfill(
                body=page_html,
                content_type="text/html; charset=utf-8",
                headers={"Content-Security-Policy": ADMIN_CSP},
            ),
        )
        page.goto(f"{base}/probe")
        assert page.evaluate("typeof htmx.ajax") == "function"
        page.evaluate("mailerEditor.create(document.querySelector('#t'))")
        assert page.locator(".cm-editor .cm-content").inner_text() == "{{ edition.number }}"
        # Chromium reports every blocked script or style on the console.
        assert not [text for text in violations if "Content Security Policy" in text], violations
    finally:
        page.close()

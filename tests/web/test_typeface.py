"""One look (issue 15 item 11): every public page shares the site's header, footer and language switch, and pages, mails and the archive copy share one typeface."""

from __future__ import annotations

import re
from types import SimpleNamespace

import httpx
import pytest

from mailer.config import Settings
from tests.web.test_archive import publish_week

TEMPLATES = Settings.model_fields["templates_dir"].default

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def font_stack(source: str, selector: str) -> str:
    """The font-family a template gives ``selector`` (a CSS rule or a style attribute)."""
    match = re.search(re.escape(selector) + r"[^}\"]*?font-family:\s*([^;\"}]+)", source)
    assert match, f"no font-family for {selector}"
    return ", ".join(name.strip().strip("'\"") for name in match.group(1).split(","))


def test_pages_mails_and_the_archive_copy_name_one_typeface():
    stacks = {
        "pages": font_stack((TEMPLATES / "web/base.html").read_text("utf-8"), "body {"),
        "digest and archive copy": font_stack(
            (TEMPLATES / "email/digest.html.j2").read_text("utf-8"), ".text {"
        ),
        "notice mails": font_stack(
            (TEMPLATES / "email/_notice_layout.html.j2").read_text("utf-8"), '<body style="'
        ),
    }
    assert len(set(stacks.values())) == 1, stacks
    assert "나눔고딕" in stacks["pages"]  # the font Linux readers (and this machine) have


def platform_fonts(page, selector: str) -> set[str]:
    cdp = page.context.new_cdp_session(page)
    try:
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        cdp.send("CSS.enable")
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        cdp.detach()
    return {font["familyName"] for font in fonts}


@sqlite_only
def test_in_chromium_pages_and_the_archive_copy_render_in_the_same_font(site, browser):
    base, ctx = site
    publish_week(SimpleNamespace(context=ctx))
    page = browser.new_page(viewport={"width": 1024, "height": 800})
    try:
        # Korean, digits and Latin in one line each: the footer's contact details.
        page.goto(f"{base}/subscribe")
        on_pages = platform_fonts(page, "footer.site p")
        page.goto(f"{base}/archive/1")
        in_archive = platform_fonts(page, "td.footer p")
    finally:
        page.close()
    assert on_pages == in_archive, (on_pages, in_archive)


@sqlite_only
def test_home_and_archive_wear_the_header_footer_and_switch_of_the_other_pages(site):
    base, ctx = site
    publish_week(SimpleNamespace(context=ctx))
    contact = f"문의: {ctx.settings.compliance.sender_name}"
    for path in ("/subscribe", "/", "/archive", "/archive/99", "/my-data"):
        page = httpx.get(base + path, timeout=10)
        header = re.search(r'<header class="site">(.*?)</header>', page.text, re.S)
        assert header, path
        assert f'<a class="name" href="/?lang=ko">{ctx.settings.compliance.list_name}</a>' in (
            header.group(1)
        ), path
        assert f'href="{path}?lang=en" lang="en" hreflang="en">English</a>' in header.group(1)
        assert re.search(r'<footer class="site">.*' + re.escape(contact), page.text, re.S), path
    english = httpx.get(base + "/?lang=en", timeout=10).text
    assert 'hreflang="ko">한국어</a>' in english and "A weekly digest" in english
    assert '<html lang="en">' in english and "Contact: " in english
    archive = httpx.get(base + "/archive?lang=en", timeout=10).text
    assert "<h1>Past editions</h1>" in archive and 'href="/archive/1"' in archive

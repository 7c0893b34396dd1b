"""Make feed text safe to show: plain-text titles and allow-listed summary HTML (nh3).

Feeds are written by strangers. A title becomes plain text (tags dropped, entities
decoded once); templates escape it like any other text. A summary keeps a small
allow-list of formatting tags and links; every link is made absolute against the
item's base URL and must be http or https, so ``javascript:``, ``data:`` and
protocol tricks never reach a mail or a page (design §4 "Feeds"). Both lose every
control, bidi and zero-width character (``mailer.unsafe_text``), also one written as
an entity such as ``&#x1b;`` (issue 11: a title's ESC sequences recoloured staff
terminals and reached the Subject).
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin, urlsplit

import nh3

from mailer.shorten import shorten
from mailer.unsafe_text import strip_unsafe

#: Formatting a digest may keep from a feed summary; images are left out on purpose
#: (remote images in mail are tracking pixels and break the layout).
SUMMARY_TAGS = frozenset(
    {"a", "p", "br", "b", "strong", "i", "em", "u", "ul", "ol", "li", "blockquote", "sub", "sup"}
)
SUMMARY_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = frozenset({"http", "https"})
#: Removed together with everything inside them.
DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template"})
LINK_REL = "noopener noreferrer nofollow"

#: A summary longer than this (in characters of text) is cut to plain text.
MAX_SUMMARY_TEXT = 600
#: How much of an over-long summary is kept.
SHORT_SUMMARY_TEXT = 300
MAX_TITLE = 500

_SPACES = re.compile(r"\s+")


def plain_text(fragment: str | None) -> str:
    """Text of an HTML fragment: tags removed, entities decoded, whitespace collapsed."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return _SPACES.sub(" ", strip_unsafe(fragment)).strip()  # already plain: most headlines
    stripped = nh3.clean(fragment, tags=set(), clean_content_tags=set(DROPPED_WITH_CONTENT))
    return _SPACES.sub(" ", strip_unsafe(html.unescape(stripped))).strip()


_BLOCK_TAG = re.compile(r"</?(?:p|br|li|ul|ol|blockquote)\b[^>]*>")
_TAG = re.compile(r"<[^>]*>")


def _text_of_clean_html(cleaned: str) -> str:
    """Text of HTML that nh3 produced: its tags are well-formed and text "<" is escaped."""
    text = _TAG.sub("", _BLOCK_TAG.sub(" ", cleaned))
    return _SPACES.sub(" ", html.unescape(text)).strip()


def clean_title(fragment: str | None) -> str:
    """A headline as plain text, cut to a sane length."""
    text = plain_text(fragment)
    if len(text) > MAX_TITLE:
        text = text[: MAX_TITLE - 1].rstrip() + "…"
    return text


def clean_summary(fragment: str | None, *, base_url: str) -> tuple[str, str]:
    """(safe HTML, its plain text): allow-listed tags, absolute http(s) links; long ones shortened."""
    if not fragment:
        return "", ""

    def absolute(tag: str, attribute: str, value: str) -> str | None:
        # nh3 hands over only the relative URLs here; absolute ones are checked
        # against URL_SCHEMES by nh3 itself.
        if attribute != "href":
            return value
        resolved = urljoin(base_url, value.strip())
        return resolved if urlsplit(resolved).scheme in URL_SCHEMES else None

    cleaned = nh3.clean(
        fragment,
        tags=set(SUMMARY_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in SUMMARY_ATTRIBUTES.items()},
        attribute_filter=absolute,
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )
    # nh3 decodes entities and writes the characters back raw, so the cleaning comes after it.
    cleaned = strip_unsafe(cleaned, allow="\n\t").strip()
    text = _text_of_clean_html(cleaned)
    if not text:
        return "", ""
    if len(text) > MAX_SUMMARY_TEXT:
        text = shorten(text, SHORT_SUMMARY_TEXT)
        return html.escape(text, quote=False), text
    return cleaned, text

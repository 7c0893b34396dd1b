"""Make feed text safe to show: plain-text titles and allow-listed summary HTML (nh3).

Feeds are written by strangers. A title becomes plain text (tags dropped, entities
decoded once); templates escape it like any other text. A summary keeps a small
allow-list of formatting tags and links; every link is made absolute against the
item's base URL and must be http or https, so ``javascript:``, ``data:`` and
protocol tricks never reach a mail or a page (design §4 "Feeds"). Both lose every
control, bidi and zero-width character (``mailer.unsafe_text``), also one written as
an entity such as ``&#x1b;`` (issue 11: a title's ESC sequences recoloured staff
terminals and reached the Subject).

Text is kept as the feed wrote it (issue 13): a field the feed marks as plain text
(Atom ``type="text"``, whatever feedparser reports as ``text/plain``) keeps its
literal ``<`` and ``&``; a removed block element (``<div>``, ``<td>``, ``<h2>`` …)
leaves a space, so "낸다.</div><div>자세히" stays two words; and the text inside a
removed element is kept wherever feedparser keeps it (``<iframe>``, ``<object>``,
``<noscript>``, ``<template>`` fallbacks), only script and style being dropped whole.
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
#: Removed together with everything inside them (what feedparser's sanitizer drops whole).
DROPPED_WITH_CONTENT = frozenset({"script", "style", "applet"})
LINK_REL = "noopener noreferrer nofollow"

#: A summary longer than this (in characters of text) is cut to plain text.
MAX_SUMMARY_TEXT = 600
#: How much of an over-long summary is kept.
SHORT_SUMMARY_TEXT = 300
MAX_TITLE = 500

_SPACES = re.compile(r"\s+")

#: Elements that start a new line where they are; removed, they must still part words.
BLOCK_ELEMENTS = frozenset(
    """address article aside blockquote br caption center dd details dialog dir div dl dt
    fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr li legend main
    menu nav ol option p pre section summary table tbody td tfoot th thead tr ul""".split()
)


def _tag_start(names: frozenset[str]) -> re.Pattern[str]:
    """Where an opening or closing tag of one of ``names`` starts."""
    return re.compile(r"<(?=/?(?:" + "|".join(sorted(names)) + r")\b)", re.I)


#: In titles every tag goes; in summaries the allowed ones stay and part words themselves.
_BLOCK_IN_TITLE = _tag_start(BLOCK_ELEMENTS)
_BLOCK_IN_SUMMARY = _tag_start(BLOCK_ELEMENTS - SUMMARY_TAGS)
#: Tags of elements whose content an HTML5 parser reads as raw text (nh3 would then
#: show their markup as literal text, or drop it) while feedparser reads it as HTML:
#: the tags go, the content is sanitised like the rest.
_UNWRAPPED = re.compile(
    r"<\s*/?\s*(?:iframe|noscript|noembed|noframes|xmp|plaintext|template|textarea|title)\b"
    r"(?:[^>\"']|\"[^\"]*\"|'[^']*')*>",
    re.I,
)


def _prepared(fragment: str, blocks: re.Pattern[str]) -> str:
    """HTML ready for nh3: a space where a removed block starts or ends, raw-text containers unwrapped."""
    if "<" not in fragment:
        return fragment
    return _UNWRAPPED.sub(" ", blocks.sub(" <", fragment))


#: A tag a summary may keep: in a "plain text" summary it says the type was left out.
_SUMMARY_MARKUP = re.compile(r"</?(?:" + "|".join(sorted(SUMMARY_TAGS)) + r")\b[^<>]*>", re.I)


def is_plain_text(content_type: str | None) -> bool:
    """Whether feedparser reports a field as plain text (not HTML or XHTML markup)."""
    return bool(content_type) and "html" not in content_type.lower()


def plain_text(fragment: str | None) -> str:
    """Text of an HTML fragment: tags removed, entities decoded, whitespace collapsed."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return _SPACES.sub(" ", strip_unsafe(fragment)).strip()  # already plain: most headlines
    stripped = nh3.clean(
        _prepared(fragment, _BLOCK_IN_TITLE),
        tags=set(),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
    )
    return _SPACES.sub(" ", strip_unsafe(html.unescape(stripped))).strip()


_BLOCK_TAG = re.compile(r"</?(?:p|br|li|ul|ol|blockquote)\b[^>]*>")
_TAG = re.compile(r"<[^>]*>")


def _text_of_clean_html(cleaned: str) -> str:
    """Text of HTML that nh3 produced: its tags are well-formed and text "<" is escaped."""
    text = _TAG.sub("", _BLOCK_TAG.sub(" ", cleaned))
    return _SPACES.sub(" ", html.unescape(text)).strip()


def clean_title(fragment: str | None, *, plain: bool = False) -> str:
    """A headline as plain text, cut to a sane length.

    ``plain``: the feed says the title is text already, so ``<`` and ``&`` in it are
    characters of the headline, not markup.
    """
    if plain:
        text = _SPACES.sub(" ", strip_unsafe(fragment or "")).strip()
    else:
        text = plain_text(fragment)
    if len(text) > MAX_TITLE:
        text = text[: MAX_TITLE - 1].rstrip() + "…"
    return text


def clean_summary(fragment: str | None, *, base_url: str, plain: bool = False) -> tuple[str, str]:
    """(safe HTML, its plain text): allow-listed tags, absolute http(s) links; long ones shortened.

    ``plain``: the feed says the summary is text, shown as written (escaped as HTML),
    unless it holds summary markup such as ``<p>`` or ``<a href>``: Atom feeds that
    leave out ``type="html"`` are common, and their readers expect the formatting.
    """
    if not fragment:
        return "", ""
    if plain and not _SUMMARY_MARKUP.search(fragment):
        text = _SPACES.sub(" ", strip_unsafe(fragment)).strip()
        if len(text) > MAX_SUMMARY_TEXT:
            text = shorten(text, SHORT_SUMMARY_TEXT)
        return html.escape(text, quote=False), text

    def absolute(tag: str, attribute: str, value: str) -> str | None:
        # nh3 hands over only the relative URLs here; absolute ones are checked
        # against URL_SCHEMES by nh3 itself.
        if attribute != "href":
            return value
        try:
            resolved = urljoin(base_url, value.strip())
            return resolved if urlsplit(resolved).scheme in URL_SCHEMES else None
        except ValueError:  # "http://[::1/": no link rather than no summary
            return None

    cleaned = nh3.clean(
        _prepared(fragment, _BLOCK_IN_SUMMARY),
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

"""The web copy of an edition: the mail as sent, minus what belongs to one subscriber.

A mail's footer tells its reader how to unsubscribe or change preferences with links
that carry her token. On the public archive page those sentences have no reader to
speak to, so each paragraph holding such a link becomes one 구독하기 (subscribe) link
(issue 15, item 6). A staff template may put the links outside a paragraph; those
point at the signup page too, never at a personal page.
"""

from __future__ import annotations

import html as html_lib
import re

from mailer.models import Links, PersonalField

#: Links that only make sense in one subscriber's mail.
PERSONAL_LINKS = (PersonalField.UNSUBSCRIBE_URL, PersonalField.PREFERENCES_URL)

# A paragraph (no nested <p>: HTML does not allow one) holding a personal link marker.
_PERSONAL_PARAGRAPH = re.compile(
    r"(<p\b[^>]*>)(?:(?!</p>).)*?(?:"
    + "|".join(re.escape(field.marker) for field in PERSONAL_LINKS)
    + r")(?:(?!</p>).)*?</p>",
    re.DOTALL | re.IGNORECASE,
)


#: The footer's link look (the mail's CSS is inlined per element when it is sent).
LINK_STYLE = "color:#0f4c3a;text-decoration:underline;font-weight:700;"


def subscribe_paragraph(opening_tag: str, subscribe_url: str) -> str:
    """The replacement, in the replaced paragraph's own ``<p …>`` (its inlined style)."""
    url = html_lib.escape(subscribe_url, quote=True)
    return (
        f'{opening_tag}<a href="{url}" style="{LINK_STYLE}">구독하기</a>'
        f' <span lang="en">(<a href="{url}" style="{LINK_STYLE}">Subscribe</a>)</span></p>'
    )


def without_personal_links(part: str, base_url: str, /) -> str:
    """``part`` (an edition's HTML with markers) with its personal-link paragraphs replaced.

    The first such paragraph becomes the 구독하기 link; later ones (an English twin)
    are dropped, so the page offers it once.
    """
    offered = False

    def replace(match: re.Match[str]) -> str:
        nonlocal offered
        if offered:
            return ""
        offered = True
        return subscribe_paragraph(match.group(1), Links(base_url).subscribe())

    return _PERSONAL_PARAGRAPH.sub(replace, part)

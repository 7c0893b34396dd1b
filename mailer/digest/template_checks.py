"""Warnings on a template that renders (never a refusal): what mail clients or readers would trip over.

Issue 12 item 4: an HTML part over Gmail's clipping size, an image without ``alt``, a
link that is not https, a digest or notice without its unsubscribe link. Saving goes
ahead; the editor shows them. Messages are "한국어 / English", like the admin pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailer.models import PersonalField

#: Gmail clips a message whose HTML is larger than about 102 KB ("[메시지가 잘림]").
GMAIL_CLIP_BYTES = 102 * 1024

_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE | re.DOTALL)
_ALT = re.compile(r"\balt\s*=", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*(["']?)([^"'\s>]*)""", re.IGNORECASE)
#: Links that are fine without https: mail and phone links, in-page anchors, a link
#: a template variable fills (its value is checked where it is made: Links gives https
#: when the base URL is), and the personal-field markers.
_SAFE_LINK = ("https:", "mailto:", "tel:", "#", "{{", "%%MAILER_")


@dataclass(frozen=True)
class TemplateWarning:
    code: str
    message: str
    line: int | None


def _line_of(source: str, offset: int) -> int:
    return source.count("\n", 0, offset) + 1


def source_warnings(name: str, source: str, /) -> list[TemplateWarning]:
    """Images without alt and links that are not https, at their lines in an HTML template."""
    if not name.endswith(".html.j2"):
        return []
    found: list[TemplateWarning] = []
    for match in _IMG.finditer(source):
        if not _ALT.search(match.group(0)):
            found.append(
                TemplateWarning(
                    "image_alt",
                    "이미지에 대체 텍스트(alt)가 없습니다 / The image has no alt text",
                    _line_of(source, match.start()),
                )
            )
    for match in _HREF.finditer(source):
        target = match.group(2).strip()
        if not target or target.lower().startswith(_SAFE_LINK) or target.startswith("{%"):
            continue
        found.append(
            TemplateWarning(
                "insecure_link",
                f"https가 아닌 링크입니다: {target} / The link is not https: {target}",
                _line_of(source, match.start()),
            )
        )
    return found


def size_warning(html: str, /) -> list[TemplateWarning]:
    """The rendered HTML part over Gmail's clipping size."""
    size = len(html.encode("utf-8"))
    if size <= GMAIL_CLIP_BYTES:
        return []
    kb = size / 1024
    return [
        TemplateWarning(
            "gmail_clipping",
            f"HTML이 {kb:.0f} KB로 Gmail이 잘라 보이는 크기(약 102 KB)를 넘습니다 / "
            f"The HTML part is {kb:.0f} KB; Gmail clips messages over about 102 KB",
            None,
        )
    ]


_PART_WORDS = {"html": ("HTML", "HTML"), "text": ("텍스트", "text")}


def unsubscribe_warning(text: str, /, *, unsubscribe_url: str, part: str) -> list[TemplateWarning]:
    """A rendered part ("html" or "text") with neither the unsubscribe marker nor the link."""
    if PersonalField.UNSUBSCRIBE_URL.marker in text or unsubscribe_url in text:
        return []
    korean, english = _PART_WORDS[part]
    return [
        TemplateWarning(
            "no_unsubscribe",
            f"{korean} 본문에 수신거부 링크(unsubscribe_url)가 없습니다 / "
            f"The {english} part has no unsubscribe link (unsubscribe_url)",
            None,
        )
    ]

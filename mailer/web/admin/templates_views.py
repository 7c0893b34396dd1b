"""What the template pages show of the digest step's template versions: names in words, groups, times, previews.

The pages (``templates_routes``) call the use cases; this module only turns their
answers into what a staff member reads: "다이제스트 · HTML 본문" for ``digest.html``,
local times, a use case's "한국어 / English" message in the page's language, and the
rendered preview's HTML part kept in the app's :class:`PreviewStore` for the iframes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from mailer import digest
from mailer.render import local_time
from mailer.web.admin.preview_store import PreviewStore

#: The URL the preview iframes load a rendered HTML part from.
PREVIEW_PATH = "/admin/templates/preview/"

#: What each kind of mail is called (the name's stem, without the part).
KINDS_KO = {
    "digest": "다이제스트",
    "confirm": "가입 확인",
    "notice_welcome": "가입 환영",
    "notice_already": "이미 구독 중",
    "notice_reconfirm": "구독 재확인",
    "notice_unsubscribe_link": "수신 거부 링크",
    "notice_withdrawal": "수신 거부 완료",
    "notice_data_link": "내 정보 열람 링크",
    "notice_erasure": "정보 삭제 완료",
    "_notice_layout": "안내 메일 공통 틀",
    "_notice_footer": "안내 메일 공통 바닥글",
}
KINDS_EN = {
    "digest": "Digest",
    "confirm": "Confirmation",
    "notice_welcome": "Welcome",
    "notice_already": "Already subscribed",
    "notice_reconfirm": "Reconfirm",
    "notice_unsubscribe_link": "Unsubscribe link",
    "notice_withdrawal": "Unsubscribed",
    "notice_data_link": "My data link",
    "notice_erasure": "Data erased",
    "_notice_layout": "Notice layout",
    "_notice_footer": "Notice footer",
}
#: The part a name ends with → its word key.
PARTS = {"subject": "tpl_part_subject", "html": "tpl_part_html", "txt": "tpl_part_text"}
_PART_ORDER = ("subject", "html", "txt")
_SUFFIX = re.compile(r"\.j2$")
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class Listed:
    name: str
    label: str
    active: Any


@dataclass(frozen=True)
class Group:
    key: str
    items: list[Listed]


def split_name(name: str) -> tuple[str, str]:
    """``digest.html`` → ("digest", "html"); ``notice_welcome.txt.j2`` → ("notice_welcome", "txt")."""
    stem, _, part = _SUFFIX.sub("", name).rpartition(".")
    if not stem:
        return part, ""
    return stem, "txt" if part == "text" else part


def label(name: str, words: dict[str, str], lang: str) -> str:
    """The template's name in words: "다이제스트 · HTML 본문"."""
    stem, part = split_name(name)
    kinds = KINDS_EN if lang == "en" else KINDS_KO
    kind = kinds.get(stem, stem)
    return f"{kind} · {words[PARTS[part]]}" if part in PARTS else kind


def groups(
    names: list[str], active: dict[str, Any], words: dict[str, str], lang: str
) -> list[Group]:
    """The digest's templates first (subject, HTML, text), then the notice mails'."""
    digest_items, notice_items = [], []
    for name in names:
        item = Listed(name, label(name, words, lang), active.get(name))
        (digest_items if split_name(name)[0] == "digest" else notice_items).append(item)

    def part_rank(item: Listed) -> int:
        part = split_name(item.name)[1]
        return _PART_ORDER.index(part) if part in _PART_ORDER else len(_PART_ORDER)

    digest_items.sort(key=part_rank)
    # Each notice's parts together, HTML before text as for the digest; notices in the given order.
    kinds = list(dict.fromkeys(split_name(item.name)[0] for item in notice_items))
    notice_items.sort(key=lambda item: (kinds.index(split_name(item.name)[0]), part_rank(item)))
    return [
        group
        for group in (Group("digest", digest_items), Group("notices", notice_items))
        if group.items
    ]


@dataclass(frozen=True)
class Skipped:
    """Unchanged lines the diff view folds away: how many."""

    count: int
    kind: str = "skipped"


def around_changes(lines: list, *, context: int = 3) -> list:
    """The diff's changed lines with ``context`` unchanged lines around each; longer runs of
    unchanged lines become one :class:`Skipped` (a 300-line template with one change is
    seven lines to read, not 300)."""
    changed = [index for index, line in enumerate(lines) if line.kind != "same"]
    keep = {
        near
        for index in changed
        for near in range(index - context, index + context + 1)
        if 0 <= near < len(lines)
    }
    shown: list = []
    run = 0
    for index, line in enumerate(lines):
        if index in keep:
            if run:
                shown.append(Skipped(run))
                run = 0
            shown.append(line)
        else:
            run += 1
    if run and changed:
        shown.append(Skipped(run))
    return shown


def in_language(lang: str):
    """A use case's "한국어 / English" message in the page's language."""

    def pick(message: object) -> str:
        korean, _, english = str(message).partition(" / ")
        return english if lang == "en" and english else korean

    return pick


def clock(zone):
    """Times as the pages print them: the configured zone, to the minute."""

    def when(moment: datetime | None) -> str:
        if moment is None:
            return ""
        if moment.tzinfo is None:  # SQLite hands back naive UTC
            moment = moment.replace(tzinfo=UTC)
        return local_time(moment, zone)

    return when


def field_name(item: object) -> str:
    """A variable's field as the list beside the editor names it (a name, or a (name, text) pair)."""
    if isinstance(item, str):
        return item
    if isinstance(item, tuple | list) and item:
        return str(item[0])
    return str(getattr(item, "name", item))


def field_text(item: object) -> str:
    if isinstance(item, tuple | list) and len(item) > 1:
        return str(item[1])
    return str(getattr(item, "description", "") or "")


def completions(variables: list, lang: str) -> list[dict[str, str]]:
    """What the editor's autocompletion offers: each variable, with its description."""
    return [
        {
            "label": variable.name,
            "type": "variable",
            "detail": variable.description_en if lang == "en" else variable.description_ko,
        }
        for variable in variables
    ]


def page_values(request: Request, words: dict[str, str], lang: str) -> dict[str, Any]:
    """The helpers every template page uses."""
    return {
        "in_lang": in_language(lang),
        "when": clock(request.app.state.context.settings.zone),
        "field_name": field_name,
        "field_text": field_text,
    }


def previews(request: Request) -> PreviewStore:
    """The app's store of rendered previews, made on first use."""
    state = request.app.state
    store = getattr(state, "template_previews", None)
    if store is None:
        store = state.template_previews = PreviewStore()
    return store


def preview_values(request: Request, session_id: int, preview: Any) -> dict[str, Any]:
    """The fragment's values: the preview, and the iframe URL of its HTML part (kept for this session)."""
    if preview is None or preview.problem is not None:
        return {"preview": preview, "frame_url": None, "subject": "", "text": ""}
    settings = request.app.state.context.settings
    frame_url = None
    if (preview.html or "").strip():
        # The markers of the personal fields, filled as for the sample subscriber.
        html = digest.sample_part(preview.html, settings, html=True)
        frame_url = PREVIEW_PATH + previews(request).put(session_id, html)
    return {
        "preview": preview,
        "frame_url": frame_url,
        "subject": digest.sample_part(preview.subject or "", settings, html=False),
        "text": digest.sample_part(preview.text or "", settings, html=False),
    }


def links_outside(html: str) -> str:
    """The part with ``<base target="_blank">``: a link followed inside the iframe would open
    one of our pages there, and they refuse to be framed (``frame-ancestors 'none'``)."""
    base = '<base target="_blank">'
    head = _HEAD.search(html)
    if head is None:
        return base + html
    return html[: head.end()] + base + html[head.end() :]

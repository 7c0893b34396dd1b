"""Story identity: canonical URLs, story uids, content hashes and near-duplicate cluster keys.

Two rules, after rss2email's ``_get_uid_for_entry`` and the way Korean outlets reprint:

- The *uid* says "this is the same item": the canonical link (scheme and host
  lower-cased, default port, fragment and tracking parameters dropped), else the
  feed's guid, else a hash of the content. The same article arriving from two feeds
  has one uid, so it is stored once with two sources.
- The *cluster key* says "this is the same news": a hash of the title with the
  decorations outlets add removed — "[속보]", "[단독]", "[포토]", "(종합2보)" tags,
  hanja abbreviations (美 → 미국), a trailing outlet name ("… - 연합뉴스",
  "… | 약업신문", "(뉴시스)") — and spacing and punctuation ignored. A digest shows
  one story per cluster and names the other outlets.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

#: Query parameters that only track the reader (campaigns, click ids); they never
#: select content, so two links differing only in these are the same article.
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "_ga",
        "_gl",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "ref_src",
        "spm",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")

_DEFAULT_PORTS = {"http": 80, "https": 443}

#: Longest uid stored verbatim; longer canonical URLs are represented by their hash.
MAX_UID_LENGTH = 1000


def canonical_url(url: str) -> str:
    """The comparable form of an article link (RFC 3986 §6.2.2 normalisation, trackers removed)."""
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    path = parts.path or "/"
    # Userinfo is dropped: credentials are never part of an article's identity.
    query = sorted(
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_tracker(name)
    )
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def _is_tracker(name: str) -> bool:
    name = name.lower()
    return name in TRACKING_PARAMETERS or name.startswith(TRACKING_PREFIXES)


def clean_link(url: str) -> str:
    """The link to show readers: tracking parameters removed, everything else byte for byte.

    The query is cut at ``&`` and only the fields naming a tracker go; the others
    are not decoded and re-encoded, so ``?a=1&b=2&c`` keeps its bare ``c`` and
    ``%20`` stays ``%20`` (a server may tell them apart).
    """
    url = url.strip()
    # Split as urlsplit does: the fragment after the first "#", the query after the first "?".
    before_fragment, hash_sign, fragment = url.partition("#")
    path, question_mark, query = before_fragment.partition("?")
    if not query:
        return url
    fields = query.split("&")
    kept = [field for field in fields if not _is_tracker(unquote_plus(field.split("=", 1)[0]))]
    if len(kept) == len(fields):
        return url
    query = "&".join(kept)
    return path + ("?" + query if query else "") + hash_sign + fragment


def content_hash(title: str, text: str) -> str:
    """SHA-256 of the normalised title and plain-text summary (identity of last resort)."""
    material = _fold(title) + "\n" + _fold(text)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def story_uid(
    *,
    link: str | None = None,
    canonical: str | None = None,
    guid: str | None,
    digest: str,
) -> str:
    """Link → guid → content hash, the first one present (rss2email's order).

    Pass the article ``link``, or its ``canonical`` form when already computed.
    """
    if link and not canonical:
        canonical = canonical_url(link)
    if canonical:
        if len(canonical) <= MAX_UID_LENGTH:
            return canonical
        return "url-sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    if guid and guid.strip():
        guid = guid.strip()
        if len(guid) <= MAX_UID_LENGTH:
            return "guid:" + guid
        return "guid-sha256:" + hashlib.sha256(guid.encode("utf-8")).hexdigest()
    return "sha256:" + digest


# -- cluster keys -----------------------------------------------------------------------------

#: Hanja and one-syllable abbreviations Korean headlines use for countries and parties;
#: both spellings of a reprint must reduce to the same words.
ABBREVIATIONS = {
    "美": "미국",
    "中": "중국",
    "日": "일본",
    "英": "영국",
    "獨": "독일",
    "独": "독일",
    "佛": "프랑스",
    "仏": "프랑스",
    "露": "러시아",
    "印": "인도",
    "伊": "이탈리아",
    "加": "캐나다",
    "濠": "호주",
    "豪": "호주",
    "韓": "한국",
    "北": "북한",
    "與": "여당",
    "野": "야당",
    "靑": "청와대",
    "檢": "검찰",
}
_SPELLED_OUT = str.maketrans({short: f" {long} " for short, long in ABBREVIATIONS.items()})
#: Stand-alone syllables that abbreviate a country in headlines ("미 FDA", "중 당국").
SYLLABLE_ABBREVIATIONS = {"미": "미국", "중": "중국", "일": "일본", "러": "러시아", "영": "영국"}

#: Words in a bracketed tag that mark news-desk decoration rather than content.
TAG_WORDS = (
    "속보",
    "단독",
    "포토",
    "사진",
    "영상",
    "종합",
    "상보",
    "1보",
    "2보",
    "3보",
    "긴급",
    "인터뷰",
    "기획",
    "특징주",
    "르포",
    "이슈",
    "카드뉴스",
    "업데이트",
    "갱신",
    "브리핑",
    "포커스",
    "해설",
    "분석",
    "칼럼",
    "사설",
    "기자수첩",
    "팩트체크",
    "breaking",
    "exclusive",
    "update",
    "updated",
    "photo",
    "video",
    "analysis",
    "opinion",
)

#: Endings that make a trailing segment look like an outlet name ("… - 메디파나뉴스").
OUTLET_ENDINGS = (
    "뉴스",
    "신문",
    "일보",
    "경제",
    "저널",
    "타임즈",
    "타임스",
    "닷컴",
    "방송",
    "투데이",
    "데일리",
    "미디어",
    "코리아",
    "뉴시스",
    "뉴스1",
    "news",
    "times",
    "journal",
    "daily",
    "post",
    "wire",
    "reuters",
    "bloomberg",
    "dive",
)
#: Outlets whose names do not end like one.
KNOWN_OUTLETS = (
    "연합뉴스",
    "뉴시스",
    "뉴스1",
    "약업신문",
    "데일리팜",
    "메디게이트뉴스",
    "메디파나뉴스",
    "히트뉴스",
    "바이오스펙테이터",
    "더바이오",
    "팜뉴스",
    "약사공론",
    "청년의사",
    "의학신문",
    "메디칼타임즈",
    "데일리메디",
    "헬스조선",
    "조선비즈",
    "이데일리",
    "머니투데이",
    "매일경제",
    "한국경제",
    "서울경제",
    "아시아경제",
    "파이낸셜뉴스",
    "전자신문",
    "kbs",
    "mbc",
    "sbs",
    "ytn",
    "jtbc",
    "stat",
    "endpoints",
    "fierce biotech",
    "fierce pharma",
    "biopharma dive",
    "reuters",
    "bloomberg",
    "ap",
)

_OPEN = "[【〔<〈《(（「『"
_CLOSE = "]】〕>〉》)）」』"
_BRACKET = (
    rf"[{re.escape(_OPEN)}]\s*([^{re.escape(_OPEN + _CLOSE)}]{{1,20}}?)\s*[{re.escape(_CLOSE)}]"
)
_LEADING_TAG = re.compile(rf"^\s*{_BRACKET}\s*")
_TRAILING_TAG = re.compile(rf"\s*{_BRACKET}\s*$")
_TRAILING_SEGMENT = re.compile(r"\s+[-–—|:·/]{1,2}\s+([^-–—|:·/]{1,30})$")
_WORD_CHARS = re.compile(r"[^\w]+", re.UNICODE)


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


_TAG_WORD = re.compile("|".join(re.escape(word) for word in TAG_WORDS) + r"|^\d+보$")


def _is_tag(content: str) -> bool:
    return _TAG_WORD.search(_fold(content)) is not None


@lru_cache(maxsize=64)
def outlet_names(outlets: tuple[str, ...] = ()) -> frozenset[str]:
    """The outlet names a headline may end with: the built-in list plus ``outlets``, folded."""
    return frozenset(_fold(name) for name in (*KNOWN_OUTLETS, *outlets) if name)


def _known(outlets: Iterable[str]) -> frozenset[str]:
    return outlets if isinstance(outlets, frozenset) else outlet_names(tuple(outlets))


def _is_outlet(segment: str, outlets: frozenset[str]) -> bool:
    segment = _fold(segment)
    if not segment or len(segment) > 30:
        return False
    if "." in segment and re.search(r"\.(com|net|org|kr|co\.kr)$", segment):
        return True
    if segment in outlets:
        return True
    words = segment.split()
    # An outlet name is short; a headline fragment ending in "뉴스" usually is not.
    return len(words) <= 3 and segment.endswith(OUTLET_ENDINGS)


def strip_decorations(title: str, *, outlets: Iterable[str] = ()) -> str:
    """The headline without desk tags and a trailing outlet name; used for clustering.

    ``outlets`` are extra outlet names, or a set made once by :func:`outlet_names`.
    """
    text = _fold(title)
    outlets = _known(outlets)
    for _ in range(4):
        before = text
        match = _LEADING_TAG.match(text)
        if match and (_is_tag(match.group(1)) or _is_outlet(match.group(1), outlets)):
            text = text[match.end() :]
        match = _TRAILING_TAG.search(text)
        if match and (_is_tag(match.group(1)) or _is_outlet(match.group(1), outlets)):
            text = text[: match.start()]
        match = _TRAILING_SEGMENT.search(text)
        if match and _is_outlet(match.group(1), outlets):
            text = text[: match.start()]
        text = text.strip()
        if text == before:
            break
    return text


def title_key(title: str, *, outlets: Iterable[str] = ()) -> str:
    """The comparable words of a headline: decorations gone, abbreviations spelled out."""
    text = strip_decorations(title, outlets=outlets).translate(_SPELLED_OUT)
    words = []
    for word in _WORD_CHARS.sub(" ", text).replace("_", " ").split():
        words.append(SYLLABLE_ABBREVIATIONS.get(word, word))
    # Spacing is inconsistent across Korean outlets ("바이오 의약품"/"바이오의약품").
    return "".join(words)


def cluster_key(title: str, *, uid: str, outlets: Iterable[str] = ()) -> str:
    """Stories with equal keys are one piece of news; an empty title clusters alone."""
    key = title_key(title, outlets=outlets)
    if len(key) < 4:
        return "u:" + hashlib.sha256(uid.encode("utf-8")).hexdigest()[:40]
    return "t:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]

"""Which character encoding a feed's bytes are in, made explicit for the parser.

The rules, in order:

- a byte order mark wins over everything (XML 1.0 Appendix F);
- a declared charset (HTTP header, then XML declaration) is authoritative when the
  bytes are valid in it; "EUC-KR" is read as its superset CP949 and "GB2312"/"GBK" as
  GB18030, as browsers do (WHATWG Encoding Standard labels);
- undeclared bytes are UTF-8 when they are valid UTF-8 (the XML default);
- otherwise the encoding is detected (charset-normalizer) among those feeds are written
  in; a Korean detection is read as CP949. Only when nothing is detected are bytes that
  are valid CP949 read as CP949 (the old assumption, kept as the last resort);
- bytes that are *almost* valid in the declared (or default UTF-8) encoding — a stray
  byte or two — are read in it with the bad bytes replaced by U+FFFD, rather than the
  whole feed in another encoding.

Every case where the text may be wrong comes with a warning for staff (``warning``).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)["']?""", re.I)
_XML_DECL_ENCODING = re.compile(rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])([\w.:-]+)(["'])""", re.I)
#: Labels that mean Korean Wansung; read them as CP949 (Unified Hangul Code), their
#: superset, so that syllables outside KS X 1001 (e.g. "똠", "햏") survive.
KOREAN_LABELS = frozenset(
    {
        "euc-kr",
        "euc_kr",
        "euckr",
        "ks_c_5601-1987",
        "ksc5601",
        "cp949",
        "x-windows-949",
        "windows-949",
        "uhc",
    }
)
#: Simplified Chinese labels, read as GB18030, the superset of GB2312 and GBK.
CHINESE_LABELS = frozenset({"gb2312", "gb_2312", "gbk", "cp936", "x-gbk", "gb18030", "euc-cn"})
#: What a detection may answer: the encodings feeds are written in (charset-normalizer
#: names). Rarer single-byte code pages are left out: on short CJK text they win by
#: chance (a Chinese headline "detected" as Thai).
DETECTABLE = (
    "cp949",
    "gb18030",
    "big5",
    "cp932",
    "euc_jp",
    "cp1252",
    "cp1251",
    "koi8_r",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
)
#: A declared or default encoding is kept, bad bytes replaced, when the invalid
#: sequences are at most this share of the non-ASCII bytes (or this few): a corrupt
#: byte or two, not text in another encoding.
REPLACEABLE_SHARE = 0.002
REPLACEABLE_MINIMUM = 2
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF8, "utf-8"),
)


@dataclass(frozen=True, slots=True)
class Decision:
    """How a body is to be read: the codec (None: left to feedparser) and why."""

    codec: str | None
    #: "bom", "declared", "default" (valid UTF-8), "detected", "assumed" (CP949) or "unknown".
    how: str
    #: Set when the text may be wrong; shown to staff with the feed.
    warning: str | None = None
    #: Decode with errors="replace" (a few bad bytes in the declared encoding).
    replace: bool = False


@dataclass(frozen=True, slots=True)
class Declared:
    """A body ready for feedparser: bytes, Content-Type with the charset, and the decision."""

    body: bytes
    content_type: str
    decision: Decision


def declared_charset(content_type: str) -> str | None:
    match = _CHARSET.search(content_type)
    return match.group(1).lower() if match else None


def superset(label: str) -> str:
    """The codec to read a charset label with (its superset where browsers use one)."""
    label = label.lower()
    if label in KOREAN_LABELS:
        return "cp949"
    if label in CHINESE_LABELS:
        return "gb18030"
    return label


def decide(body: bytes, *, declared: list[str]) -> Decision:
    """The encoding to read ``body`` in, given the charsets declared for it (strongest first)."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return Decision(codec, "bom")
    codecs_declared = [
        codec for codec in dict.fromkeys(superset(c) for c in declared) if _known(codec)
    ]
    for codec in codecs_declared:
        if _decodes(body, codec):
            return Decision(codec, "declared")
    if declared and not codecs_declared:
        shown = declared[0]
        fallback = decide(body, declared=[])
        note = f"the feed declares the unknown character set {shown!r}"
        return Decision(
            fallback.codec, fallback.how, _joined(note, fallback.warning), fallback.replace
        )
    if not codecs_declared and _decodes(body, "utf-8"):
        return Decision("utf-8", "default")
    # Declared (or, undeclared, the UTF-8 default) but not valid in it.
    expected = codecs_declared[0] if codecs_declared else "utf-8"
    label = declared[0] if declared else "UTF-8 (no character set declared)"
    bad = _bad_characters(body, expected)
    if bad <= max(REPLACEABLE_MINIMUM, REPLACEABLE_SHARE * _non_ascii(body)):
        return Decision(
            expected,
            "declared" if declared else "default",
            f"{bad} invalid {label} byte sequence{'s' if bad != 1 else ''} replaced by �",
            replace=True,
        )
    detected = detect(body)
    if detected:
        if not declared:
            return Decision(detected, "detected")
        return Decision(
            detected,
            "detected",
            f"the feed declares {label}, but its bytes are not {label}; read as {detected} (detected)",
        )
    if not declared and _decodes(body, "cp949"):
        return Decision("cp949", "assumed")
    what = (
        f"declares {label}, but its bytes are not {label}"
        if declared
        else "declares no character set"
    )
    return Decision(
        None,
        "unknown",
        f"the feed {what} and its encoding could not be detected; text may be garbled",
    )


def detect(body: bytes) -> str | None:
    """The encoding charset-normalizer finds for ``body`` among :data:`DETECTABLE`, or None."""
    from charset_normalizer import from_bytes  # noqa: PLC0415 — loaded only when needed

    # The XML declaration is ASCII and would only weigh for its own (wrong) label.
    best = from_bytes(body, cp_isolation=list(DETECTABLE), preemptive_behaviour=False).best()
    if best is None:
        return None
    return superset(best.encoding.replace("_", "-"))


def declare_encoding(body: bytes, content_type: str) -> Declared:
    """Bytes and Content-Type to hand to feedparser, with the charset made explicit when needed."""
    http_charset = declared_charset(content_type)
    xml_match = _XML_DECL_ENCODING.match(body[:200])
    xml_charset = xml_match.group(2).decode("ascii").lower() if xml_match else None
    declared = [charset for charset in (http_charset, xml_charset) if charset]
    decision = decide(body, declared=declared)
    codec = decision.codec
    if codec is None:
        return Declared(body, content_type, decision)
    if decision.how == "bom" and codec == "utf-8":
        return Declared(body, _with_charset(content_type, "utf-8"), decision)
    if decision.replace or decision.how == "bom" or codec.startswith(("utf-16", "utf-32")):
        # Re-encoded as UTF-8: the DOCTYPE check and feedparser then see ASCII-compatible
        # bytes, and the replaced bytes cannot make feedparser fall back to windows-1252.
        text = body.decode(codec, errors="replace").lstrip("\ufeff")
        data = _XML_DECL_ENCODING.sub(rb"\g<1>utf-8\g<3>", text.encode("utf-8"), count=1)
        return Declared(data, _with_charset(content_type, "utf-8"), decision)
    if codec != "utf-8" and xml_charset and superset(xml_charset) != codec:
        # feedparser must not trust a declaration the bytes contradict.
        body = _XML_DECL_ENCODING.sub(rb"\g<1>" + codec.encode("ascii") + rb"\g<3>", body, count=1)
    if codec == "utf-8" and decision.how == "default":
        return Declared(body, content_type, decision)
    return Declared(body, _with_charset(content_type, codec), decision)


def decode_body(body: bytes, content_type: str) -> tuple[str, Decision]:
    """The body as text (for formats without an XML declaration, such as JSON Feed)."""
    charset = declared_charset(content_type)
    decision = decide(body, declared=[charset] if charset else [])
    codec = decision.codec or "utf-8"
    replace = decision.replace or decision.codec is None
    return body.decode(codec, errors="replace" if replace else "strict").lstrip("\ufeff"), decision


def _with_charset(content_type: str, charset: str) -> str:
    if _CHARSET.search(content_type):
        return _CHARSET.sub(f"charset={charset}", content_type, count=1)
    base = content_type.split(";")[0].strip() or "application/xml"
    return f"{base}; charset={charset}"


def _joined(first: str, second: str | None) -> str:
    return f"{first}; {second}" if second else first


def _known(codec: str) -> bool:
    try:
        codecs.lookup(codec)
    except LookupError:
        return False
    return True


def _decodes(body: bytes, codec: str) -> bool:
    try:
        body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _bad_characters(body: bytes, codec: str) -> int:
    """How many invalid sequences decoding ``body`` in ``codec`` meets."""
    return body.decode(codec, errors="replace").count("\ufffd")


def _non_ascii(body: bytes) -> int:
    return len(body) - len(body.translate(None, _NON_ASCII))


_NON_ASCII = bytes(range(0x80, 0x100))

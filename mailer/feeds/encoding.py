"""Which character encoding a feed's bytes are in, made explicit for the parser.

The HTTP headers go to feedparser so a declared charset is honoured; a byte order
mark wins over everything (XML 1.0 Appendix F); "EUC-KR" is read as its superset
CP949, as browsers do (WHATWG Encoding Standard, "euc-kr" label); undeclared
non-UTF-8 bytes that are valid CP949 are read as CP949.
"""

from __future__ import annotations

import codecs
import re

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
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def declare_encoding(body: bytes, content_type: str) -> tuple[bytes, str]:
    """Bytes and Content-Type to hand to feedparser, with the charset made explicit when needed."""
    declared = _CHARSET.search(content_type)
    http_charset = declared.group(1).lower() if declared else None
    for bom, codec in _BOMS:
        if body.startswith(bom):
            # A byte order mark is authoritative (XML 1.0 Appendix F); re-encode as
            # UTF-8 so that the DOCTYPE check and feedparser see ASCII-compatible bytes.
            return _as_utf8(body.decode(codec, errors="replace"), content_type)
    if http_charset and http_charset.startswith(("utf-16", "utf-32")):
        try:
            return _as_utf8(body.decode(http_charset), content_type)
        except (UnicodeDecodeError, LookupError):
            pass
    if http_charset in KOREAN_LABELS:
        content_type = _CHARSET.sub("charset=cp949", content_type)
    xml_match = _XML_DECL_ENCODING.match(body[:200])
    xml_charset = xml_match.group(2).decode("ascii").lower() if xml_match else None
    if xml_charset in KOREAN_LABELS:
        body = _XML_DECL_ENCODING.sub(rb"\g<1>cp949\g<3>", body, count=1)
    if not http_charset and not xml_charset and not _is_utf8(body):
        try:
            body.decode("cp949")
        except UnicodeDecodeError:
            pass
        else:
            content_type = _with_charset(content_type, "cp949")
    return body, content_type


def _as_utf8(text: str, content_type: str) -> tuple[bytes, str]:
    text = text.lstrip("\ufeff")
    data = text.encode("utf-8")
    data = _XML_DECL_ENCODING.sub(rb"\g<1>utf-8\g<3>", data, count=1)
    if _CHARSET.search(content_type):
        content_type = _CHARSET.sub("charset=utf-8", content_type)
    else:
        content_type = _with_charset(content_type, "utf-8")
    return data, content_type


def _with_charset(content_type: str, charset: str) -> str:
    base = content_type.split(";")[0].strip() or "application/xml"
    return f"{base}; charset={charset}"


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True

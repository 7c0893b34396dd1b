"""Read the fidelity suite's feed files: the bytes to serve and what each file says must be stored.

A file carries its own expectation (see tests/feeds/fidelity/README.md): an XML comment
``<!-- expect: {json} -->`` in an RSS, Atom or RDF document, an ``"_expect"`` key in a
JSON Feed. The expectation is found in the text, not by parsing the document, so a file
that is malformed on purpose can still say what must happen to it.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIDELITY = Path(__file__).resolve().parent / "fidelity"
#: The poll time when a file does not name one: late enough that no date in a file is
#: "in the future" (which the poll would replace by the first-seen time).
DEFAULT_NOW = datetime(2030, 1, 1, tzinfo=UTC)
#: What a file is served as when its expectation names no Content-Type (no charset:
#: a file that depends on one says so).
DEFAULT_CONTENT_TYPES = {".json": "application/feed+json"}
DEFAULT_CONTENT_TYPE = "application/xml"
FIRST_SEEN = "first-seen"

_XML_MARK = "<!-- expect:"
_JSON_MARK = '"_expect"'
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class FileFormatError(ValueError):
    """The file's expectation is missing or not what the README describes."""


@dataclass(frozen=True)
class FidelityCase:
    path: Path
    body: bytes
    #: Response headers to send (``{server}`` already replaced), Content-Type included.
    headers: dict[str, str]
    now: datetime
    status: str
    error: str | None
    warnings: tuple[str, ...]
    items: tuple[dict[str, Any], ...]


def feed_files() -> list[Path]:
    return sorted(
        path for path in FIDELITY.iterdir() if path.is_file() and path.name != "README.md"
    )


def load_case(path: Path, *, server: str) -> FidelityCase:
    """The case a file describes; ``server`` (``http://host:port``) replaces ``{server}``."""
    body = path.read_bytes()
    raw = _expectation(path, body)
    if not isinstance(raw, dict) or not isinstance(raw.get("items", []), list):
        raise FileFormatError(f"{path.name}: the expectation must be an object with a list 'items'")
    unknown = set(raw) - {"headers", "now", "status", "error", "warnings", "items", "note"}
    if unknown:
        raise FileFormatError(f"{path.name}: unknown expectation keys {sorted(unknown)}")

    def fill(value: str) -> str:
        return value.replace("{server}", server)

    headers = {name: fill(value) for name, value in (raw.get("headers") or {}).items()}
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = DEFAULT_CONTENT_TYPES.get(path.suffix, DEFAULT_CONTENT_TYPE)
    now = _instant(raw["now"]) if raw.get("now") else DEFAULT_NOW
    items = []
    for position, item in enumerate(raw.get("items", []), 1):
        missing = {"title", "link", "date"} - set(item)
        if missing:
            raise FileFormatError(f"{path.name}: item {position} lacks {sorted(missing)}")
        expected = {
            "title": item["title"],
            "link": fill(item["link"]),
            "date": now if item["date"] == FIRST_SEEN else _instant(item["date"]),
        }
        if "summary" in item:
            expected["summary"] = fill(item["summary"])
        items.append(expected)
    status = raw.get("status", "ok")
    if status not in ("ok", "error"):
        raise FileFormatError(f"{path.name}: status must be 'ok' or 'error'")
    return FidelityCase(
        path=path,
        body=body,
        headers=headers,
        now=now,
        status=status,
        error=raw.get("error"),
        warnings=tuple(raw.get("warnings", ())),
        items=tuple(items),
    )


def _expectation(path: Path, body: bytes) -> Any:
    text = _text(path, body)
    mark = _JSON_MARK if path.suffix == ".json" else _XML_MARK
    start = text.find(mark)
    if start < 0:
        raise FileFormatError(f"{path.name}: no {mark} found")
    value_at = start + len(mark)
    if mark == _JSON_MARK:
        colon = text.find(":", value_at)
        if colon < 0:
            raise FileFormatError(f"{path.name}: {_JSON_MARK} has no value")
        value_at = colon + 1
    decoder = json.JSONDecoder()
    try:
        value, end = decoder.raw_decode(text, _skip_spaces(text, value_at))
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{path.name}: the expectation is not JSON: {exc}") from None
    if any("\udc80" <= char <= "\udcff" for char in text[start:end]):
        raise FileFormatError(
            f"{path.name}: the expectation is not UTF-8; write other characters as \\uXXXX"
        )
    if mark == _XML_MARK and not text[end:].lstrip().startswith("-->"):
        raise FileFormatError(f"{path.name}: the expect comment must end right after the JSON")
    return value


def _text(path: Path, body: bytes) -> str:
    """The file as text for finding its expectation: UTF-16/32 by BOM, else UTF-8 around it."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body.decode(codec)
    # Files in other encodings keep the expectation ASCII (\\u escapes); the rest of
    # the file may be any bytes (they become lone surrogates here, checked below).
    return body.decode("utf-8", errors="surrogateescape")


def _skip_spaces(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index


def _instant(value: str) -> datetime:
    stamp = datetime.fromisoformat(value)
    if stamp.tzinfo is None:
        raise ValueError(f"{value!r}: an expected date needs a zone (Z or +09:00)")
    return stamp.astimezone(UTC)

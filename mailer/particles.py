"""Korean particles (조사) chosen by the final sound of the word they follow: 이/가, 은/는, 을/를, 와/과, 으로/로.

A name inserted into Korean text ("{sender}이(가)") reads as a form to fill in; the
particle has to follow the name's last syllable instead (issue 15 item 7): a final
consonant (받침) takes 이, 은, 을, 과, 으로; an open syllable takes 가, 는, 를, 와, 로;
and ㄹ takes 로 (서울로, not 서울으로). Names do not always end in Hangul, so the
sound is read the way Korean readers say what is written:

- digits as Sino-Korean numbers (3 삼 → 은, 2 이 → 는, 10 십 → 은, 1000 천 → 은);
- Latin acronyms letter by letter (KT 케이티 → 는, LG 엘지 → 는, CJ ENM 엠 → 은),
  other Latin words by their usual Korean spelling (Google 구글 → 은 and 로,
  Samsung 삼성 → 은, Excel 엑셀 → 은, Office 오피스 → 는);
- a bracketed gloss after the name is not read ("시흥산업진흥원(재)" → 은), a name that
  is only brackets and what they hold is read inside them ("「세미나」" → 는).

What cannot be read (Hanja, kana, emoji, a name without letters) keeps the written-out
pair "이(가)", which is still correct — only it should never be needed for the names
this service inserts. Leaf module: the page templates and the mail sandbox both use it
as the Jinja filter ``josa`` (``{{ sender | josa("이") }}``), the page catalogue as a
format spec (``{sender:이}``).
"""

from __future__ import annotations

import re

#: Each pair as (after a final consonant, after an open syllable).
PAIRS: dict[str, tuple[str, str]] = {}
for _closed, _open in (("이", "가"), ("은", "는"), ("을", "를"), ("과", "와"), ("으로", "로")):
    for _spelling in (_closed, _open, f"{_closed}/{_open}", f"{_open}/{_closed}"):
        PAIRS[_spelling] = (_closed, _open)

#: The final consonant index of a Hangul syllable: 0 none, 8 is ㄹ (see :func:`_final`).
_NONE, _RIEUL, _OTHER = "none", "rieul", "other"

#: Finals of the Sino-Korean digits: 영 일 이 삼 사 오 육 칠 팔 구.
_DIGIT_FINALS = [_OTHER, _RIEUL, _NONE, _OTHER, _NONE, _NONE, _OTHER, _RIEUL, _RIEUL, _NONE]

#: Letter names as Korean readers say them: 엘, 엠, 엔, 알 end in a consonant.
_LETTER_FINALS = {"l": _RIEUL, "r": _RIEUL, "m": _OTHER, "n": _OTHER}

_OPENING = {")": "(", "]": "[", "}": "{", ">": "<", "」": "「", "』": "『", "》": "《", "〉": "〈"}
_OPENING |= {"’": "‘", "”": "“"}
_QUOTES = "\"'"
_TRAILING_NOISE = " \t.,!?·…"
_LATIN_TAIL = re.compile(r"[A-Za-z]+$")
_DIGIT_TAIL = re.compile(r"[0-9][0-9,]*$")
_SHORT_VOWEL_STOP = re.compile(r"(?:^|[^aeiou])[aeiou](?:ck|k|p|t|b)$")


def with_particle(word: object, particle: str, /) -> str:
    """``word`` followed by the form of ``particle`` its last sound takes.

    ``particle`` is either form or the pair ("이", "가", "이/가", "으로"…); a word whose
    sound cannot be read gets the written-out pair (``漢字이(가)``).
    """
    text = str(word)
    return text + particle_for(text, particle)


def particle_for(word: str, particle: str, /) -> str:
    """Only the particle that follows ``word`` (see :func:`with_particle`)."""
    try:
        closed, open_ = PAIRS[particle.strip()]
    except KeyError:
        raise ValueError(
            f"unknown particle {particle!r}: use one of 이/가, 은/는, 을/를, 와/과, 으로/로"
        ) from None
    final = final_sound(word)
    if final is None:
        return f"{closed}({open_})"
    if closed == "으로":
        return "으로" if final == _OTHER else "로"
    return open_ if final == _NONE else closed


def final_sound(word: str, /) -> str | None:
    """How ``word`` ends when read aloud: "none", "rieul" (ㄹ), "other", or None (unreadable)."""
    text = _spoken_part(word)
    if not text:
        return None
    last = text[-1]
    if "가" <= last <= "힣":
        index = (ord(last) - 0xAC00) % 28
        return _NONE if index == 0 else _RIEUL if index == 8 else _OTHER
    if digits := _DIGIT_TAIL.search(text):
        return _number_final(digits.group().replace(",", ""))
    if latin := _LATIN_TAIL.search(text):
        return _latin_final(latin.group())
    return None


def _spoken_part(word: str) -> str:
    """The part of ``word`` whose end is pronounced: closing brackets and glosses peeled off."""
    text = word.rstrip(_TRAILING_NOISE)
    while text and (text[-1] in _OPENING or text[-1] in _QUOTES):
        closing = text[-1]
        opening = _OPENING.get(closing, closing)
        start = text.rfind(opening, 0, len(text) - 1)
        if start < 0:
            text = text[:-1].rstrip(_TRAILING_NOISE)
            continue
        before = text[:start].rstrip(_TRAILING_NOISE)
        inner = text[start + 1 : -1]
        # "서울(Seoul)" reads 서울; "「세미나」" and "(재)" alone read what they hold;
        # a quoted name is read as it is, quotes or not.
        if closing in ")]}" and before:
            text = before
        else:
            text = inner.rstrip(_TRAILING_NOISE)
    return text


def _number_final(digits: str) -> str:
    """The last sound of a number read in Sino-Korean: 10 십, 100 백, 1000 천, 10000 만…"""
    significant = digits.rstrip("0")
    zeros = len(digits) - len(significant)
    if not significant:
        return _OTHER  # 영
    if zeros == 0:
        return _DIGIT_FINALS[int(significant[-1])]
    # 십 (ㅂ), 백 (ㄱ), 천 (ㄴ); then the unit every four places decides: 만 (ㄴ), 억 (ㄱ),
    # 조 (open), 경 (ㅇ) — 20000 이만, 3000000000000 삼조.
    return _NONE if zeros // 4 == 3 else _OTHER


def _latin_final(letters: str) -> str:
    """The last sound of a Latin word as Korean spells it (a heuristic that suits names)."""
    if letters.isupper() and len(letters) <= 5:
        return _LETTER_FINALS.get(letters[-1].lower(), _NONE)  # an acronym: 케이티, 엘지
    lower = letters.lower()
    if lower.endswith("ng"):
        return _OTHER  # 삼성, 링
    silent_e = len(lower) > 2 and lower.endswith("e") and lower[-2] not in "aeiou"
    stem = lower[:-1] if silent_e else lower
    if stem.endswith("l"):
        return _RIEUL  # 구글, 애플, 메일
    if stem.endswith(("m", "n")):
        return _OTHER  # 게임, 라인, 아마존
    if not silent_e and (_SHORT_VOWEL_STOP.search(stem) or stem.endswith("ook")):
        return _OTHER  # 슬랙, 웹, 로봇, 페이스북
    return _NONE  # 오피스, 워드, 테스트, 서버

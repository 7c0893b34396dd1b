"""The facts of one story that tell two similar headlines apart: names, numbers, places, events.

Two reprints of one piece of news say the same things in other words; two different
stories by the same company in the same week say almost the same words about other
things — "셀트리온 '스테키마' 美 FDA 허가" and "셀트리온 '옴리클로' 美 FDA 허가",
"3분기 매출" and "2분기 매출", "phase 2" and "phase 3". Character similarity cannot
see that difference, so :mod:`mailer.feeds.similarity` splits a pair whose facts
disagree, whatever its score. Each fact here is what the headline states:

- **names**: quoted terms ('짐펜트라'), Latin words and codes in a Korean headline
  (MSD, ABL301), capitalised words of an English one (Pfizer, Metsera), the subject
  before the first comma of a Korean one ("큐로셀, …");
- **quantities**: a number with its unit — money (normalised: 1조3000억 = 1.3조,
  $4.9B = $4.9 billion), quarters (3분기 = 3Q = Q3 = third-quarter), trial phases
  (3상 = phase 3), ordinals (1공장, 2회차, 3주차), years, percentages;
- **regions**: the country, regulator or site a story is about (美/FDA, 유럽/EMA, 송도);
- **events**: approval, filing, launch, trial, deal, financing, results, meeting, building;
- **conditions**: the disease or use a story is about (비만, 폐암, sleep apnea, MASH);
- **setback**: a refusal, delay or failure (허가 불발, CRL, rejects).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailer.feeds.news_words import CONDITIONS, EVENTS, REGIONS, SETBACK_WORDS

#: Korean words that count the thing after a number: 3분기, 2상, 1공장, 2회차.
_COUNTERS = ("분기", "상", "공장", "캠퍼스", "회차", "주차", "차", "기", "호", "가", "년", "월", "일",
             "명", "개", "건", "곳", "종")  # fmt: skip
_PEOPLE = re.compile(r"(\d+)\s+(?:jobs|employees|workers|staff|people|positions)\b", re.I)
#: How Korean company names end ("알지노믹스", "리브스메드", "큐로셀"): such a word names a company.
_COMPANY_ENDINGS = ("바이오", "제약", "약품", "메드", "텍", "젠", "팜", "로직스", "사이언스",
                    "테라퓨틱스", "테라퓨틱", "셀", "랩", "파마", "에피스", "노믹스", "바이오텍",
                    "헬스케어")  # fmt: skip
_GENERIC_WORDS = frozenset(("바이오", "제약", "k-바이오", "제약바이오", "레드바이오", "그린바이오"))
_PARTICLE = re.compile(r"(?:와|과|에|에게|은|는|이|가|의|도|를|을|서|로|으로)$")
_ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4}
_DOLLARS = re.compile(r"\$\s?(\d+(?:\.\d+)?)\s*(billion|million|bn|b|m)?\b", re.I)
_QUARTER = re.compile(
    r"(?:\b[qQ]([1-4])\b|\b([1-4])[qQ]\b|([1-4])\s*분기|\b(first|second|third|fourth)[-\s]quarter)"
)
_PHASE = re.compile(r"(?:\bphase\s*([1-4])\b|([1-4])\s*상(?![승장한향반]))", re.I)
_STAGES = {"early": 1.0, "mid": 2.0, "late": 3.0}
_STAGE = re.compile(r"\b(early|mid|late)[-\s]stage\b", re.I)
#: An amount in 억원: "1조3000억", "1.3조", "3천400억", "5천억".
_WON = re.compile(
    r"(?:(\d+(?:\.\d+)?)\s*조\s*)?(?:(\d+)\s*천\s*)?(\d+(?:\.\d+)?)?\s*억|(\d+(?:\.\d+)?)\s*조"
)
_COUNTED = re.compile(r"(\d+)\s*(" + "|".join(sorted(_COUNTERS, key=len, reverse=True)) + ")")
_BARE_NUMBER = re.compile(r"(?<![\d.$€£¥A-Za-z가-힣-])(\d+)(?![\d.%A-Za-z가-힣-]|\s*(?:%|[가-힣]))")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_QUOTED = re.compile(r"['‘’\"“”「」『』]([^'‘’\"“”「」『』]{2,30})['‘’\"“”「」『』]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9&+.\-']*[A-Za-z0-9]|[A-Za-z]")
_HANGUL = re.compile(r"[가-힣]")

#: Capitalised English words that are headline vocabulary, not names.
_COMMON_CAPITALS = frozenset(
    "a an the to for of in on at by with from and or as is are be its new first us u.s "
    "fda's update breaking exclusive report reports sources".split()
)


@dataclass(frozen=True, slots=True)
class StoryFacts:
    names: frozenset[str]
    quantities: frozenset[tuple[str, float]]
    regions: frozenset[str]
    events: frozenset[str]
    conditions: frozenset[str]
    setback: bool


def story_facts(headline: str) -> StoryFacts:
    """The facts a decoration-free headline states (keep its case: English names are capitalised)."""
    folded = headline.casefold()
    events = _EVENTS.kinds(folded)
    if "filing" in events:
        events.discard("approval")  # "허가 신청" asks for an approval; it is not one
    return StoryFacts(
        names=frozenset(_names(headline)),
        quantities=frozenset(_quantities(headline)),
        regions=frozenset(_REGIONS.kinds(folded)),
        events=frozenset(events),
        conditions=frozenset(_CONDITIONS.kinds(folded)),
        setback=bool(_SETBACKS.kinds(folded)),
    )


class _Vocabulary:
    """Finds which kinds of a word table a headline mentions, in one cheap pass.

    Korean words match anywhere (particles attach: "허가를"); short Latin words, and all
    of them in a ``latin`` table, as whole words ("ec" is not in "second"); longer Latin
    ones as word prefixes ("approv" in "approves"); phrases with a space as substrings.
    (One alternation regex with look-arounds was measured 10× slower.)
    """

    def __init__(self, table: dict[str, tuple[str, ...]], *, latin: bool = False) -> None:
        self.anywhere: list[tuple[str, str]] = []
        self.whole: dict[str, str] = {}
        self.prefixes: list[tuple[str, str]] = []
        for kind, words in table.items():
            for word in words:
                if not word.isascii() or " " in word:
                    self.anywhere.append((word, kind))
                elif latin or len(word) <= 4:
                    self.whole[word] = kind
                else:
                    self.prefixes.append((word, kind))

        prefixes = sorted((word for word, _ in self.prefixes), key=len, reverse=True)
        self.prefix_kind = dict(self.prefixes)
        self.prefix = (
            re.compile(r"(?<![a-z0-9])(?:" + "|".join(map(re.escape, prefixes)) + ")")
            if prefixes
            else None
        )

    def kinds(self, folded: str) -> set[str]:
        found = {kind for word, kind in self.anywhere if word in folded}
        if folded.isascii() or any(char.isascii() and char.isalpha() for char in folded):
            for word in _ASCII_WORD.findall(folded):
                kind = self.whole.get(word.removesuffix("'s"))
                if kind is not None:
                    found.add(kind)
            if self.prefix is not None:
                found.update(self.prefix_kind[match] for match in self.prefix.findall(folded))
        return found


_ASCII_WORD = re.compile(r"[a-z0-9&][a-z0-9&.'\-]*[a-z0-9]|[a-z0-9]")
_EVENTS = _Vocabulary(EVENTS)
_REGIONS = _Vocabulary(REGIONS, latin=True)
_CONDITIONS = _Vocabulary(CONDITIONS, latin=True)
_SETBACKS = _Vocabulary({"setback": SETBACK_WORDS})


def _names(headline: str) -> set[str]:
    names = {match.strip().casefold() for match in _QUOTED.findall(headline)}
    korean = _HANGUL.search(headline) is not None
    for word in _LATIN_WORD.findall(headline):
        folded = word.casefold().removesuffix("'s").removesuffix("’s").strip(".-'")
        if len(folded) < 2 or folded in _COMMON_CAPITALS:
            continue
        # In an English headline a name is capitalised; in a Korean one any Latin word is.
        if korean or word[0].isupper() or any(char.isdigit() for char in word):
            names.add(folded)
    if korean:
        for word in headline.split():
            word = word.strip("'‘’\"“”…·,.()[]").casefold()
            stem = _PARTICLE.sub("", word)
            if len(stem) < 2 or stem in _GENERIC_WORDS or not _HANGUL.search(stem):
                continue
            # "산도스와 계약": the partner; "알지노믹스 상장": a company.
            if (stem != word and word[-1] in "와과" and len(word) >= 3) or stem.endswith(
                _COMPANY_ENDINGS
            ):
                names.add(stem)
        subject = re.split(r"[,，]", headline, maxsplit=1)
        if len(subject) == 2 and len(subject[0]) <= 20:
            for word in re.split(r"[\s·]+", subject[0]):
                word = word.strip("'‘’\"“”")
                if len(word) >= 2 and _HANGUL.search(word):
                    names.add(word.casefold())
    return names


def codes(text: str) -> frozenset[str]:
    """Product and trial codes in running text (mRNA-1010, LCB84, ABL301), folded."""
    return frozenset(
        word.casefold().strip(".-")
        for word in _LATIN_WORD.findall(text)
        if any(char.isdigit() for char in word)
        and any(char.isalpha() for char in word)
        and len(word) >= 3
    )


def quantities(text: str) -> frozenset[tuple[str, float]]:
    """Every number with its unit in ``text`` (a headline or a summary)."""
    return frozenset(_quantities(text))


def _quantities(headline: str) -> set[tuple[str, float]]:
    found: set[tuple[str, float]] = set()
    folded = headline.casefold()
    if not any(char.isdigit() for char in headline) and not (
        "stage" in folded or "quarter" in folded
    ):
        return found  # every pattern below needs a digit, a stage or a quarter
    text = headline.replace(",", "")
    for match in _QUARTER.finditer(text):
        digit = match.group(1) or match.group(2) or match.group(3)
        found.add(("quarter", float(digit or _ORDINAL_WORDS[match.group(4).casefold()])))
    for match in _PHASE.finditer(text):
        found.add(("phase", float(match.group(1) or match.group(2))))
    for match in _STAGE.finditer(text):
        found.add(("phase", _STAGES[match.group(1).casefold()]))
    for match in _COUNTED.finditer(text):
        counter = match.group(2)
        if counter in ("분기", "상"):
            continue  # read above, with their English spellings
        found.add((counter, float(match.group(1))))
    for match in _YEAR.finditer(text):
        found.add(("year", float(match.group(1))))
    # A number with no unit still tells two headlines apart ("바이오 소식 5" / "… 7").
    found.update(("number", float(number)) for number in _BARE_NUMBER.findall(text))
    for match in _PEOPLE.finditer(text):
        found.add(("people", float(match.group(1))))
    for match in _PERCENT.finditer(text):
        found.add(("percent", float(match.group(1))))
    for match in _DOLLARS.finditer(text):
        unit = (match.group(2) or "").casefold()
        scale = 1e9 if unit in ("billion", "bn", "b") else 1e6 if unit in ("million", "m") else 1
        found.add(("usd", float(match.group(1)) * scale))
    found.update(("krw", value) for value in _korean_amounts(text))
    return found


def _korean_amounts(text: str) -> list[float]:
    """Amounts in 억원: "1조3000억" and "1.3조" are both 13000, "3천400억" is 3400."""
    amounts = []
    for match in _WON.finditer(text):
        trillions, thousands, hundreds, alone = match.groups()
        if not (trillions or thousands or hundreds or alone):
            continue  # "억" with no number before it
        value = float(trillions or alone or 0) * 10000
        value += float(thousands or 0) * 1000 + float(hundreds or 0)
        amounts.append(value)
    return amounts

"""Benchmark: near-duplicate clustering — quality on the labelled pairs, and 2,000 stories timed.

Run with ``python -m bench.clusters [--runs N] [--stories N]``. It prints

1. precision and recall of :func:`mailer.feeds.same_news` on
   ``tests/data/near_duplicates.jsonl`` (all pairs, the development and the held-out
   split), with the threshold sweep the threshold was chosen from, and the same
   without the rules that split pairs (the score alone);
2. the same decisions made by other similarity measures, if the libraries are
   installed (rapidfuzz, datasketch) — how the measure was picked;
3. the time ``merge_near_duplicates`` takes on a window of 2,000 stories (made-up
   Korean and English headlines with reprints, the labelled stories among them),
   median and worst of the runs, and how the labelled pairs fared in that crowd.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime

from mailer.digest.clusters import cluster, merge_near_duplicates
from mailer.feeds import THRESHOLD, story_print
from mailer.feeds import similarity as measure
from mailer.models import StoryView
from tests.labelled import evaluate, load_pairs

TARGET_SECONDS = 1.0
NOW = datetime(2026, 12, 7, tzinfo=UTC)

COMPANIES = [
    "셀트리온", "삼성바이오로직스", "유한양행", "한미약품", "대웅제약", "종근당", "녹십자",
    "SK바이오팜", "SK바이오사이언스", "알테오젠", "에이비엘바이오", "리가켐바이오", "HLB",
    "보로노이", "오름테라퓨틱", "큐로셀", "지씨셀", "차바이오텍", "휴젤", "메디톡스",
    "동아에스티", "일동제약", "JW중외제약", "보령", "HK이노엔", "LG화학", "롯데바이오로직스",
    "에스티팜", "펩트론", "올릭스", "온코닉테라퓨틱스", "아이센스", "루닛", "뷰노",
]  # fmt: skip
FIRMS = [
    "Pfizer", "Merck", "Lilly", "Novo Nordisk", "AstraZeneca", "Roche", "Novartis", "Sanofi",
    "GSK", "AbbVie", "Amgen", "Gilead", "Moderna", "BioNTech", "Vertex", "Regeneron",
    "Biogen", "Takeda", "Bayer", "Bristol Myers",
]  # fmt: skip
KOREAN_EVENTS = [
    "{c}, '{d}' 美 FDA 품목허가 획득", "{c}, '{d}' 임상 {n}상 IND 승인", "{c}, {m}억원 규모 기술이전 계약",
    "{c}, {q}분기 매출 {m}억원", "{c}, {m}억원 규모 시리즈{s} 투자 유치", "{c}, '{d}' 유럽 출시",
    "{c}, 송도 {n}공장 착공", "{c}, '{d}' 중국 허가 신청", "{c}, {m}억원 규모 CMO 계약 체결",
]  # fmt: skip
ENGLISH_EVENTS = [
    "FDA approves {c}'s {d} for {i}", "{c} to acquire {d} Therapeutics for ${n}.{q} billion",
    "{c} Q{q} sales rise on {d} demand", "{c}'s {d} succeeds in phase {n} {i} trial",
    "{c} inks ${n}.{q}B licensing deal for {d}",
]  # fmt: skip
INDICATIONS = ["obesity", "lung cancer", "Alzheimer's", "psoriasis", "asthma", "migraine"]
KOREAN_DECORATIONS = ["[속보] {t}", "{t} - 연합뉴스", "[단독] {t}", "{t}(종합)", "{t} | 약업신문"]
ENGLISH_DECORATIONS = ["{t} - Reuters", "UPDATE 1-{t}", "Exclusive: {t}", "{t} | STAT"]
OUTLETS = ["연합뉴스", "뉴시스", "약업신문", "데일리팜", "Reuters", "STAT", "Fierce Biotech"]


SYLLABLES = "가나다라마바사아자차카타파하셀렉트미노온젠스피레도로모소오조코토포호리비시지키티니디기이루무부수우주쿠투푸후"
KOREAN_ENDINGS = ["바이오", "제약", "테라퓨틱스", "사이언스", "메디칼", "셀", "젠", "팜"]


def drug(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 5)))


def company(rng: random.Random, korean: bool) -> str:
    """A known company half the time (big names recur all week), else a made-up one."""
    if rng.random() < 0.5:
        return rng.choice(COMPANIES if korean else FIRMS)
    if korean:
        return drug(rng)[:3] + rng.choice(KOREAN_ENDINGS)
    return brand(rng) + rng.choice([" Therapeutics", " Bio", " Pharma", ""])


def brand(rng: random.Random) -> str:
    return rng.choice("BCDFGKLMNPRTVZ") + "".join(rng.choice("aeiouylnrstvx") for _ in range(5))


def window(size: int, seed: int = 7) -> list[StoryView]:
    """``size`` stories: the labelled ones, then made-up news, some of it reprinted."""
    rng = random.Random(seed)
    stories = []
    for pair in load_pairs():
        for side in ("a", "b"):
            stories.append((pair[side]["title"], pair[side]["summary"], pair[side]["source"]))
    stories = list(dict.fromkeys(stories))
    while len(stories) < size:
        korean = rng.random() < 0.6
        template = rng.choice(KOREAN_EVENTS if korean else ENGLISH_EVENTS)
        title = template.format(
            c=company(rng, korean),
            d=drug(rng) if korean else brand(rng),
            n=rng.randint(1, 3),
            q=rng.randint(1, 4),
            m=rng.randrange(100, 9000, 10),
            s=rng.choice("ABCD"),
            i=rng.choice(INDICATIONS),
        )
        summary = f"{title}. " + (
            "관계자는 이번 성과로 글로벌 시장 진출이 기대된다고 말했다."
            if korean
            else "The company said the news supports its growth plans."
        )
        stories.append((title, summary, rng.choice(OUTLETS)))
        for _ in range(rng.choice((0, 0, 1, 2))):  # reprints by other outlets
            decoration = rng.choice(KOREAN_DECORATIONS if korean else ENGLISH_DECORATIONS)
            stories.append((decoration.format(t=title), summary, rng.choice(OUTLETS)))
    return [
        StoryView(
            title=t,
            url=f"https://news.example/{i}",
            source=o,
            published=NOW,
            summary=s,
            story_id=i + 1,
        )
        for i, (t, s, o) in enumerate(stories[:size])
    ]


def report_quality() -> None:
    print(f"threshold {THRESHOLD}")
    for split in (None, "development", "held-out"):
        pairs = load_pairs(split)
        outcome = evaluate(pairs)
        same = sum(pair["label"] == "same" for pair in pairs)
        print(
            f"  {split or 'all':<12} {len(pairs):>3} pairs ({same} same): "
            f"precision {outcome.precision:.3f}, recall {outcome.recall:.3f}"
        )
        for pair in outcome.wrong:
            print(f"      wrong ({pair['label']}): {pair['a']['title']} || {pair['b']['title']}")
    development = load_pairs("development")
    print(
        "  sweep on the development pairs: threshold → precision / recall (rules on; score alone)"
    )
    for step in range(16, 50, 2):
        value = step / 100
        with_rules = evaluate(development, threshold=value)
        alone = _score_alone(development, value)
        print(
            f"    {value:.2f}: {with_rules.precision:.3f} / {with_rules.recall:.3f};"
            f"  {alone[0]:.3f} / {alone[1]:.3f}"
        )


def _score_alone(pairs: list[dict], threshold: float) -> tuple[float, float]:
    tp = fp = fn = 0
    for pair in pairs:
        a = story_print(pair["a"]["title"], pair["a"]["summary"])
        b = story_print(pair["b"]["title"], pair["b"]["summary"])
        judged, actual = measure.score(a, b) >= threshold, pair["label"] == "same"
        tp, fp, fn = (
            tp + (judged and actual),
            fp + (judged and not actual),
            fn + (actual and not judged),
        )
    return (tp / (tp + fp) if tp + fp else 1.0), tp / (tp + fn)


def report_measures() -> None:
    """The rules and the fact bonus kept, the words' similarity swapped: best threshold and cost."""
    pairs = load_pairs()
    prints = [
        (
            story_print(p["a"]["title"], p["a"]["summary"]),
            story_print(p["b"]["title"], p["b"]["summary"]),
            p["label"] == "same",
        )
        for p in pairs
    ]
    measures = {"bigram Jaccard, Python sets (shipped)": measure.text_similarity}
    try:
        from rapidfuzz import fuzz

        measures["rapidfuzz fuzz.ratio of the headlines"] = lambda a, b: (
            fuzz.ratio(a.headline, b.headline) / 100
        )
    except ImportError:
        print("  (rapidfuzz not installed: not compared)")
    try:
        from datasketch import MinHash

        hashes = {}

        def minhash(grams):
            key = grams
            if key not in hashes:
                hashes[key] = MinHash(num_perm=128)
                for gram in grams:
                    hashes[key].update(gram.encode())
            return hashes[key]

        def minhash_similarity(a, b):
            title = minhash(a.title_grams).jaccard(minhash(b.title_grams))
            if a.summary_grams and b.summary_grams:
                return max(
                    title, (title + minhash(a.summary_grams).jaccard(minhash(b.summary_grams))) / 2
                )
            return title

        measures["datasketch MinHash (128), estimated bigram Jaccard"] = minhash_similarity
    except ImportError:
        print("  (datasketch not installed: not compared)")
    for name, similarity in measures.items():
        best = None
        for step in range(10, 90):
            value = step / 100
            tp = fp = fn = 0
            for a, b, actual in prints:
                total = similarity(a, b) + measure.AGREEMENT_BONUS * min(5, measure.agreement(a, b))
                judged = total >= value and measure.conflict(a, b) is None
                tp, fp, fn = (
                    tp + (judged and actual),
                    fp + (judged and not actual),
                    fn + (actual and not judged),
                )
            precision, recall = (tp / (tp + fp) if tp + fp else 1.0), tp / (tp + fn)
            if precision >= 0.98 and (best is None or recall > best[2]):
                best = (value, precision, recall)
        started = time.perf_counter()
        for _ in range(20):
            for a, b, _ in prints:
                similarity(a, b)
        per_pair = (time.perf_counter() - started) / (20 * len(prints)) * 1e6
        print(
            f"  {name}: best threshold {best[0]:.2f} → precision {best[1]:.3f}, recall {best[2]:.3f}; {per_pair:.1f} µs a pair"
        )


def report_speed(size: int, runs: int) -> None:
    stories = window(size)
    samples, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        entries = merge_near_duplicates(stories)
        samples.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    print(
        f"  {size} stories → {len(entries)} entries: median {statistics.median(samples) * 1000:.0f} ms, "
        f"worst {max(samples) * 1000:.0f} ms over {runs} runs (target < {TARGET_SECONDS:.0f} s); "
        f"CPU median {statistics.median(cpu) * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f}"
    )
    prints = [story_print(story.title, story.summary) for story in stories]
    started = time.perf_counter()
    groups = cluster(prints)
    print(
        f"    of which clustering the prepared prints: {(time.perf_counter() - started) * 1000:.0f} ms"
    )
    where = {}
    for number, members in enumerate(groups):
        for index in members:
            where[(stories[index].title, stories[index].summary)] = number
    joined = {"same": [0, 0], "different": [0, 0]}
    for pair in load_pairs():
        together = (
            where[(pair["a"]["title"], pair["a"]["summary"])]
            == where[(pair["b"]["title"], pair["b"]["summary"])]
        )
        joined[pair["label"]][0] += together
        joined[pair["label"]][1] += 1
    print(
        f"    labelled pairs in this crowd: {joined['same'][0]}/{joined['same'][1]} same-news pairs joined, "
        f"{joined['different'][0]}/{joined['different'][1]} different pairs joined (through other stories too)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--stories", type=int, default=2000)
    args = parser.parse_args()
    print("quality on the labelled pairs")
    report_quality()
    print("similarity measures compared (same rules, best threshold with precision ≥ 0.98)")
    report_measures()
    print("speed")
    report_speed(args.stories, args.runs)


if __name__ == "__main__":
    main()

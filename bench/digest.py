"""Benchmark: preview of a 50-story edition (select + group + render HTML/text/subject), target ≤ 50 ms.

Run with ``python -m bench.digest [--runs N]``. It builds a throw-away SQLite database
with 50 story clusters (55 rows: five stories reported twice), the shipped templates
and seminar file, then times what ``mailer digest preview`` does after start-up —
``schedules.next_fire_time`` (when the edition is due) then ``digest.preview_edition``
— and, separately, turning the preview into a complete MIME
message (``--format eml``). Prints the first (cold: templates compiled) run, then
the median and p95 of the warm runs, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from mailer import digest, render, schedules
from mailer.bootstrap import build_context
from mailer.config import load_settings
from mailer.seed import initialise
from mailer.store.db import write_transaction
from mailer.store.tables import stories

TARGET_MS = 50.0
STORIES = 50

TOPICS = [
    ("시흥시, 배곧 바이오 특화단지 지정 위한 정부 공모 신청", "정책"),
    ("바이오 벤처 시리즈B 300억원 투자 유치", "투자"),
    ("국내 연구진, 알츠하이머 조기 진단 바이오마커 발견", "연구"),
    ("美 FDA, 국산 항체 신약 허가 심사 착수", "해외"),
    ("식약처, 세포치료제 허가 심사 기간 단축", "정책"),
]

SUMMARY = (
    "시흥산업진흥원과 한국공학대학교가 함께 추진하는 바이오산업 육성 사업의 하나로, 지역 "
    "기업과 대학, 연구기관이 참여하는 협의체가 꾸려졌다. 참여 기관들은 공동 연구와 인력 "
    "양성, 창업 지원을 통해 서울대 시흥캠퍼스 일대를 바이오 혁신 거점으로 키운다는 계획이다."
)


def fill(engine, now: datetime) -> None:
    rows = []
    for index in range(STORIES):
        title, tag = TOPICS[index % len(TOPICS)]
        rows.append(
            {
                "uid": f"bench-{index}",
                "url": f"https://news.example.kr/articles/{index}",
                "title": f"{title} ({index + 1})",
                "summary": f"<p>{SUMMARY}</p>",
                "source": ["연합뉴스", "경기일보", "매일경제", "동아사이언스"][index % 4],
                "content_hash": f"h{index}",
                "cluster_key": f"c{index}",
                "relevance": 100 - index,
                "relevant": True,
                "matched_keywords": ["바이오", tag],
                "published_at": now - timedelta(hours=index * 3),
                "first_seen_at": now,
            }
        )
    for index in range(5):  # near-duplicates from a second outlet
        rows.append(
            {**rows[index], "uid": f"bench-dup-{index}", "source": "한국경제", "relevance": 1}
        )
    with write_transaction(engine) as conn:
        conn.execute(insert(stories), rows)


def timed(function, runs: int) -> tuple[float, list[float]]:
    started = time.perf_counter()
    function()
    cold = (time.perf_counter() - started) * 1000
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return cold, samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="warm runs (default 100)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        settings = load_settings(
            database_url=f"sqlite:///{directory / 'bench.db'}",
            data_dir=directory / "var",
            digest={"max_stories": STORIES},
        )
        ctx = build_context(settings)
        try:
            initialise(ctx)
            now = datetime.now(UTC)
            fill(ctx.engine, now)
            state: dict = {}
            # Looked up before timing: the lazy package names import their modules (and
            # Jinja2, css-inline, APScheduler) on first use; "cold" times compiling templates.
            next_fire_time, preview_edition = schedules.next_fire_time, digest.preview_edition
            sample_message = digest.sample_message
            assert render.MailRenderer

            def preview() -> None:
                scheduled_for = next_fire_time(ctx, "digest", now=now)
                state["edition"] = preview_edition(ctx, scheduled_for=scheduled_for, now=now)

            cold, samples = timed(preview, args.runs)
            edition = state["edition"]
            assert len(edition.stories) == STORIES, len(edition.stories)

            def eml() -> None:
                sample_message(
                    settings, subject=edition.subject, html=edition.html, text=edition.text
                )

            _, eml_samples = timed(eml, args.runs)
        finally:
            ctx.close()
    median = statistics.median(samples)
    print(f"digest preview, {STORIES} stories in {len(edition.sections)} sections, SQLite")
    print(
        f"  html {len(edition.html.encode()) / 1024:.0f} KiB, text {len(edition.text.encode()) / 1024:.0f} KiB"
    )
    print(f"  cold (compiles templates): {cold:6.1f} ms")
    print(f"  preview  median {median:6.1f} ms   p95 {p95(samples):6.1f} ms   ({args.runs} runs)")
    print(
        f"  + eml    median {statistics.median(eml_samples):6.1f} ms   p95 {p95(eml_samples):6.1f} ms"
    )
    verdict = "ok" if median <= TARGET_MS else "SLOWER THAN TARGET"
    print(f"  target median ≤ {TARGET_MS:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()

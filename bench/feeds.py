"""Benchmark of the poll step: 200 feeds × 50 items from a loopback HTTP server, on SQLite.

Run from the repository root::

    python -m bench.feeds [--feeds 200] [--items 50] [--concurrency 16] [--rounds 3]

The feed server runs in its own process (a small asyncio HTTP/1.1 server with
keep-alive and prepared responses, answering 304 to a matching If-None-Match),
so that serving costs the polling process nothing. Each round uses a fresh SQLite
database and measures, in wall-clock seconds:

- first poll: every feed fetched, parsed, scored, de-duplicated and stored;
- repeat poll: every feed answers 304 Not Modified.

Targets on a 2-core machine (issue 3): first poll ≤ 2.5 s, repeat poll ≤ 0.5 s.
The first round includes starting the parser processes' fork server, which a
long-running service pays once; later rounds show the steady state.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

TOPICS = [
    ("셀트리온, 美 FDA서 항체 바이오시밀러 품목허가 획득", "bio"),
    ("삼성바이오로직스 4공장 가동률 상승… CDMO 수주 확대", "bio"),
    ("국내 제약사 3분기 실적 발표, 신약 기술수출 효과", "bio"),
    ("식약처, 첨단재생의료 세포치료제 임상 2상 승인", "bio"),
    ("시흥 배곧 바이오 클러스터에 연구센터 착공", "bio"),
    ("mRNA vaccine maker raises $200M for phase 3 clinical trial", "bio"),
    ("FDA approves first CRISPR gene therapy for sickle cell disease", "bio"),
    ("Biotech IPO window reopens as antibody-drug conjugate deals surge", "bio"),
    ("주말 날씨: 전국 맑고 아침 기온 영하", "other"),
    ("프로야구 포스트시즌 일정 확정", "other"),
]


def build_feed(index: int, items: int, now: datetime) -> bytes:
    """A realistic RSS 2.0 document: Korean and English items, HTML summaries, some shared links."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>벤치마크 뉴스 {index}</title><link>https://bench{index}.example.kr/</link>",
        "<description>제약·바이오 소식</description>",
    ]
    for number in range(items):
        title, _kind = TOPICS[(index + number) % len(TOPICS)]
        # Every tenth item is the same article carried by several feeds.
        if number % 10 == 0:
            link = f"https://shared.example.kr/news/{number}?utm_source=rss"
        else:
            link = f"https://bench{index}.example.kr/news/articleView.html?idxno={number}"
        published = format_datetime(now - timedelta(minutes=17 * number + index), usegmt=True)
        parts.append(
            "<item>"
            f"<title>[{index}-{number}] {title}</title>"
            f"<link>{link.replace('&', '&amp;')}</link>"
            f'<guid isPermaLink="false">bench-{index}-{number}</guid>'
            f"<pubDate>{published}</pubDate>"
            "<description><![CDATA[<p>"
            f"{title} 관련 기사입니다. 업계는 <b>바이오</b> 산업의 성장과 의약품 수출 확대에 주목하고 있다. "
            f'<a href="/news/articleView.html?idxno={number}">기사 전문</a></p>]]></description>'
            "</item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


# -- the feed server (its own process) ------------------------------------------------------------


class _FeedProtocol(asyncio.Protocol):
    def __init__(self, responses: dict[bytes, tuple[bytes, bytes]]) -> None:
        self.responses = responses
        self.buffer = b""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            path = lines[0].split(b" ")[1]
            etag = None
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"if-none-match":
                    etag = value.strip()
            found = self.responses.get(path)
            if found is None:
                self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            elif etag == found[0]:
                self.transport.write(
                    b"HTTP/1.1 304 Not Modified\r\nETag: " + found[0] + b"\r\n\r\n"
                )
            else:
                self.transport.write(found[1])


def _serve(feeds: int, items: int, ready) -> None:
    now = datetime.now(UTC)
    responses = {}
    for index in range(feeds):
        body = build_feed(index, items, now)
        etag = b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"'
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
            b"ETag: " + etag + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        responses[f"/feed/{index}.xml".encode()] = (etag, head + body)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _FeedProtocol(responses), "127.0.0.1", 0, backlog=1024
        )
        ready.send(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the measurement ------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its exited children (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _helper_cpu(exclude: int) -> float:
    """CPU of this process's other children: the parser fork server and the workers it reaped."""
    children: set[int] = set()
    try:
        for task in Path(f"/proc/{os.getpid()}/task").iterdir():
            children |= {int(pid) for pid in (task / "children").read_text().split()}
    except OSError:
        return 0.0
    return sum(_cpu_seconds(pid) for pid in children if pid != exclude)


def _round(port: int, server_pid: int, feeds: int, concurrency: int, workdir: Path) -> dict:
    from sqlalchemy import func, select

    from mailer.bootstrap import build_context
    from mailer.config import load_settings
    from mailer.feeds import add_feed, poll_feeds, summarise
    from mailer.store import db
    from mailer.store.tables import stories

    settings = load_settings(
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        data_dir=workdir,
        feeds={"allow_private": True, "concurrency": concurrency},
    )
    ctx = build_context(settings)
    db.upgrade(ctx.engine)
    for index in range(feeds):
        add_feed(ctx, f"http://127.0.0.1:{port}/feed/{index}.xml", name=f"벤치마크 {index}")
    figures: dict = {}
    for name, expected in (("first", "ok"), ("repeat", "not_modified")):
        cpu, helpers = time.process_time(), _helper_cpu(server_pid)
        server = _cpu_seconds(server_pid)
        started = time.perf_counter()
        results = asyncio.run(poll_feeds(ctx))
        figures[name] = time.perf_counter() - started
        figures[f"{name}_cpu"] = time.process_time() - cpu
        figures[f"{name}_parsers"] = _helper_cpu(server_pid) - helpers
        figures[f"{name}_server"] = _cpu_seconds(server_pid) - server
        summary = summarise(results)
        if summary[expected] != feeds:
            errors = {result.error for result in results if result.error}
            raise SystemExit(f"unexpected outcome of the {name} poll: {summary} {errors}")
        if name == "first":
            figures["items"] = summary["new"]
    with ctx.engine.connect() as conn:
        figures["stories"] = conn.execute(select(func.count()).select_from(stories)).scalar_one()
    ctx.close()
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    server = context.Process(target=_serve, args=(args.feeds, args.items, send), daemon=True)
    server.start()
    port = receive.recv()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"poll benchmark: {args.feeds} feeds × {args.items} items, concurrency {args.concurrency}, "
        f"SQLite, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {load:.1f}"
    )
    rounds = []
    try:
        for number in range(1, args.rounds + 1):
            with tempfile.TemporaryDirectory() as workdir:
                figures = _round(port, server.pid, args.feeds, args.concurrency, Path(workdir))
            rounds.append(figures)
            print(
                f"round {number}: first poll {figures['first']:.2f} s "
                f"({figures['items']} items, {figures['stories']} stories; CPU: poller "
                f"{figures['first_cpu']:.2f} s, parsers {figures['first_parsers']:.2f} s, "
                f"feed server {figures['first_server']:.2f} s) | repeat poll, all 304: "
                f"{figures['repeat']:.2f} s (CPU: poller {figures['repeat_cpu']:.2f} s)"
            )
    finally:
        server.terminate()
        server.join()

    def median(key: str) -> float:
        return statistics.median(figures[key] for figures in rounds)

    print(
        f"median: first poll {median('first'):.2f} s (target ≤ 2.5 s), "
        f"repeat poll {median('repeat'):.2f} s (target ≤ 0.5 s); CPU of a first poll "
        f"{median('first_cpu') + median('first_parsers'):.2f} s on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()

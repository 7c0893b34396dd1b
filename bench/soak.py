"""Soak benchmark: signups, confirmations and one-click unsubscribes at a steady rate against `mailer serve` while an edition sends.

Run with ``python -m bench.soak --minutes 30`` (or ``make bench BENCH=soak``; not in CI).
It initialises a scratch database (SQLite, or a scratch database on the PostgreSQL
server named by ``--database-url``), inserts ``--subscribers`` active readers and a
real-sized edition, starts an SMTP sink process and ``mailer serve --no-scheduler`` (its
own send worker sends the edition and the confirmation mails), queues the edition and,
for the whole run, sends ``--rate`` requests per second, open loop, in a fixed rotation:

- a signup (``POST /subscribe`` with the CSRF cookie and token a browser sends);
- the confirmation page (``GET /confirm/<token>``), the token taken from the
  confirmation mail the sink received;
- the confirmation (``POST /confirm/<token>``, the page's button);
- an RFC 8058 one-click unsubscribe (``POST /unsubscribe/<token>``) of an imported reader.

When no confirmation mail is waiting, that slot makes a signup instead. The send is
throttled (``smtp.rate``) so that the list lasts the run; when an edition finishes
anyway, the next one is queued. Every 10 s it reads the serve process's resident
memory (VmRSS). At the end it prints requests, errors, per-minute latency, RSS after
the warm-up vs at the end, and the verdict: no errors, RSS growth < 20 %, p99 of the
last window ≤ 2 × p99 of the first; it exits 1 when a criterion fails.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.delivery import BENCH_SECRET as SECRET
from bench.delivery import RESULTS, digest_parts, free_port, populate, scratch_postgres
from bench.subscribe import wait_http, wait_port

ROOT = Path(__file__).resolve().parent.parent
CONFIRM_LINK = re.compile(r"/confirm/([A-Za-z0-9_-]+)")
ROTATION = ("signup", "confirm_page", "confirm", "unsubscribe")
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
UNFINISHED = ("queued", "sending", "deferred")


# -- the SMTP sink (a child process) --------------------------------------------------------


def run_sink(port: int, out: Path) -> None:
    """Accept every message; append each soak signup's confirmation token to ``out``/tokens."""
    from aiosmtpd.controller import Controller

    tokens = (out / "tokens").open("a", buffering=1)

    class Sink:
        count = 0

        async def handle_DATA(self, server, session, envelope):
            Sink.count += 1
            if any(rcpt.startswith("soak") for rcpt in envelope.rcpt_tos):
                message = email.message_from_bytes(envelope.content)
                for part in message.walk():
                    if part.get_content_type() == "text/plain":
                        found = CONFIRM_LINK.search(part.get_payload(decode=True).decode())
                        if found:
                            tokens.write(found.group(1) + "\n")
                            break
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port, server_hostname="sink")
    controller.start()
    try:
        while True:
            time.sleep(1)
            (out / "count").write_text(str(Sink.count))
    finally:
        controller.stop()


# -- measuring -------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) / 1024


def percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


class Load:
    """The open-loop client: one request per tick, latencies and errors kept per request."""

    def __init__(self, http: httpx.AsyncClient, form: dict[str, str], unsubscribe: list[str]):
        self.http = http
        self.form = form
        self.unsubscribe = unsubscribe
        self.mailed: deque[str] = deque()  # tokens read from confirmation mails
        self.viewed: deque[str] = deque()  # tokens whose confirmation page was opened
        self.samples: list[tuple[float, float, str]] = []  # (offset s, latency ms, kind)
        self.errors: list[tuple[float, str, str]] = []
        self.started = time.monotonic()
        self.signups = 0

    def pick(self, tick: int) -> tuple[str, str | None]:
        kind = ROTATION[tick % len(ROTATION)]
        if kind == "confirm_page" and self.mailed:
            return kind, self.mailed.popleft()
        if kind == "confirm" and self.viewed:
            return kind, self.viewed.popleft()
        if kind == "unsubscribe" and self.unsubscribe:
            return kind, self.unsubscribe.pop()
        return "signup", None

    async def one(self, tick: int) -> None:
        kind, token = self.pick(tick)
        offset = time.monotonic() - self.started
        begun = time.perf_counter()
        try:
            if kind == "signup":
                self.signups += 1
                address = f"soak{self.signups}x{tick}@example.kr"
                answer = await self.http.post("/subscribe", data={**self.form, "email": address})
            elif kind == "confirm_page":
                answer = await self.http.get(f"/confirm/{token}")
                self.viewed.append(token)
            elif kind == "confirm":
                fields = {"csrf_token": self.form["csrf_token"], "lang": "ko"}
                answer = await self.http.post(f"/confirm/{token}", data=fields)
            else:
                answer = await self.http.post(f"/unsubscribe/{token}", data=ONE_CLICK)
        except httpx.HTTPError as error:
            self.errors.append((offset, kind, f"{type(error).__name__}: {error}"))
            return
        self.samples.append((offset, (time.perf_counter() - begun) * 1000, kind))
        if not 200 <= answer.status_code < 400:
            self.errors.append((offset, kind, f"HTTP {answer.status_code}"))

    async def run(self, seconds: float, rate: float) -> None:
        tasks = set()
        tick = 0
        while (due := self.started + tick / rate) < self.started + seconds:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            task = asyncio.create_task(self.one(tick))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            tick += 1
        await asyncio.gather(*tasks)


async def read_tokens(path: Path, load: Load, until: float) -> None:
    """Follow the sink's token file: each line is one confirmation mail's link token."""
    offset = 0
    while time.monotonic() < until:
        if path.exists():
            with path.open() as tokens:
                tokens.seek(offset)
                chunk = tokens.read()
            complete = chunk[: chunk.rfind("\n") + 1]
            offset += len(complete)
            load.mailed.extend(complete.split())
        await asyncio.sleep(0.5)


async def sample_rss(pid: int, every: float, until: float, into: list[tuple[float, ...]]):
    """(offset s, RSS MB, 1-minute load average): the machine is shared, so its load is kept too."""
    started = time.monotonic()
    while time.monotonic() < until:
        into.append((time.monotonic() - started, rss_mb(pid), os.getloadavg()[0]))
        await asyncio.sleep(every)
    into.append((time.monotonic() - started, rss_mb(pid), os.getloadavg()[0]))


# -- the editions ------------------------------------------------------------------------------


def add_edition(url: str, number: int) -> None:
    """Another draft edition like the first (a new number and scheduled time)."""
    from sqlalchemy import insert

    from mailer.store import db
    from mailer.store.tables import editions

    subject, html, text = digest_parts()
    now = datetime.now(UTC)
    engine = db.make_engine(url)
    with db.write_transaction(engine) as conn:
        conn.execute(
            insert(editions).values(
                number=number,
                schedule="bench",
                scheduled_for=now + timedelta(minutes=number),
                state="draft",
                subject=subject,
                html=html,
                text=text,
                stories=[],
                created_at=now,
            )  # fmt: skip
        )
    engine.dispose()


def unfinished(url: str) -> int:
    from sqlalchemy import func, select

    from mailer.store import db
    from mailer.store.tables import deliveries

    engine = db.make_engine(url)
    with engine.connect() as conn:
        query = select(func.count()).where(deliveries.c.state.in_(UNFINISHED))
        left = conn.execute(query).scalar_one()
    engine.dispose()
    return left


async def keep_sending(url: str, env: dict[str, str], until: float, sent: list[int]) -> None:
    """Queue edition 42, and the next one whenever the previous has nothing left to send."""
    number = 42
    while True:
        queue = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mailer", "digest", "send", "--edition", str(number),
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if await queue.wait():
            raise SystemExit(f"mailer digest send --edition {number} failed")
        sent.append(number)
        while time.monotonic() < until and await asyncio.to_thread(unfinished, url):
            await asyncio.sleep(max(0.0, min(5.0, until - time.monotonic())))
        if time.monotonic() >= until:
            return
        number += 1
        await asyncio.to_thread(add_edition, url, number)


# -- the run -----------------------------------------------------------------------------------


def final_counts(url: str) -> dict[str, dict[str, int]]:
    from sqlalchemy import func, select

    from mailer.store import db
    from mailer.store.tables import deliveries, notices, subscribers

    engine = db.make_engine(url)
    counts = {}
    with engine.connect() as conn:
        for name, table in (("deliveries", deliveries), ("notices", notices)):
            rows = conn.execute(select(table.c.state, func.count()).group_by(table.c.state))
            counts[name] = dict(rows.all())
        rows = conn.execute(select(subscribers.c.status, func.count()).group_by("status"))
        counts["subscribers"] = dict(rows.all())
    engine.dispose()
    return counts


def link_tokens(url: str) -> list[str]:
    from sqlalchemy import select

    from mailer.keys import IdentityKeys
    from mailer.store import db
    from mailer.store.tables import subscribers

    keys = IdentityKeys(SECRET)
    engine = db.make_engine(url)
    with engine.connect() as conn:
        seeds = conn.execute(select(subscribers.c.token_seed)).scalars().all()
    engine.dispose()
    return [keys.link_token(seed) for seed in seeds]


async def drive(
    base: str, *, options, tokens: list[str], server_pid: int, work: Path, url: str, env
):
    """Run the load, the mail reader, the RSS sampler and the editions side by side."""
    seconds = options.seconds
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        page = await http.get("/subscribe")
        form = {
            name: re.search(rf'name="{name}" value="([^"]+)"', page.text).group(1)
            for name in ("csrf_token", "consent_version")
        }
        form.update(consent="yes", lang="ko", website="")
        load = Load(http, form, tokens)
        until = load.started + seconds
        rss: list[tuple[float, ...]] = []
        editions: list[int] = []
        await asyncio.gather(
            load.run(seconds, options.rate),
            read_tokens(work / "sink" / "tokens", load, until),
            sample_rss(server_pid, min(10.0, max(1.0, seconds / 10)), until, rss),
            keep_sending(url, env, until, editions),
        )
    return load, rss, editions


def summarise(options, *, load: Load, rss, editions, counts, mails: int) -> dict:
    """The report: per-minute latency, the two p99 windows, RSS growth and the verdict."""
    seconds = options.seconds
    warmup = min(60.0, seconds / 10)
    window = min(300.0, (seconds - warmup) / 3)
    bucket = min(60.0, max(1.0, seconds / 6))

    def latencies(start: float, end: float) -> list[float]:
        return sorted(ms for at, ms, _ in load.samples if start <= at < end)

    minutes = []
    for index in range(int(-(-seconds // bucket))):
        ordered = latencies(index * bucket, (index + 1) * bucket)
        loads = [avg for at, _, avg in rss if index * bucket <= at < (index + 1) * bucket]
        minutes.append(
            {
                "from_s": index * bucket,
                "requests": len(ordered),
                "p50": percentile(ordered, 0.5),
                "p95": percentile(ordered, 0.95),
                "p99": percentile(ordered, 0.99),
                "load": max(loads, default=0.0),
            }
        )
    first = percentile(latencies(warmup, warmup + window), 0.99)
    last = percentile(latencies(seconds - window, seconds + 60), 0.99)
    rss_start = next((mb for at, mb, _ in rss if at >= warmup), rss[-1][1])
    rss_end = rss[-1][1]
    growth = (rss_end - rss_start) / rss_start * 100
    kinds: dict[str, int] = {}
    for _, _, kind in load.samples:
        kinds[kind] = kinds.get(kind, 0) + 1
    checks = {
        "no errors": not load.errors,
        "RSS growth < 20 %": growth < 20,
        "p99 of the last window ≤ 2 × the first": last <= 2 * first,
    }
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "seconds": seconds,
        "rate": options.rate, "subscribers": options.subscribers, "backend": options.backend,
        "send_rate": options.send_rate, "requests": len(load.samples) + sum(
            1 for *_, what in load.errors if not what.startswith("HTTP")
        ), "by_kind": kinds, "errors": len(load.errors), "first_errors": load.errors[:10],
        "warmup_s": warmup, "window_s": window, "bucket_s": bucket, "per_bucket": minutes,
        "p99_first": first, "p99_last": last, "rss_start_mb": rss_start, "rss_end_mb": rss_end,
        "rss_growth_pct": growth, "rss_samples": rss, "editions_queued": editions,
        "mails_received": mails, "counts": counts, "load_average": os.getloadavg(),
        "checks": checks, "passed": all(checks.values()),
    }  # fmt: skip


def print_summary(report: dict) -> None:
    print(
        f"\nsoak: {report['seconds']:.0f} s against mailer serve ({report['backend']}), "
        f"{report['rate']:g} requests/s, edition to {report['subscribers']:,} readers at "
        f"{report['send_rate']:.1f} msg/s; load average {report['load_average'][0]:.1f} "
        f"on {os.cpu_count()} CPUs at the end"
    )
    print(f"requests   {report['requests']:,} {report['by_kind']}; errors {report['errors']}")
    for when, kind, what in report["first_errors"]:
        print(f"  error at {when:.1f} s, {kind}: {what}")
    print(
        f"latency per {report['bucket_s']:.0f} s (ms):   from     n     p50     p95     p99  max load"
    )
    for row in report["per_bucket"]:
        print(
            f"{'':27}{row['from_s']:6.0f} {row['requests']:5} {row['p50']:7.1f} "
            f"{row['p95']:7.1f} {row['p99']:7.1f} {row['load']:9.1f}"
        )
    print(
        f"p99        first {report['window_s']:.0f} s after a {report['warmup_s']:.0f} s "
        f"warm-up {report['p99_first']:.1f} ms, last {report['window_s']:.0f} s "
        f"{report['p99_last']:.1f} ms"
    )
    print(
        f"RSS        {report['rss_start_mb']:.1f} MB after the warm-up, "
        f"{report['rss_end_mb']:.1f} MB at the end ({report['rss_growth_pct']:+.1f} %)"
    )
    print(
        f"mail       {report['mails_received']:,} messages received by the sink; editions "
        f"queued {report['editions_queued']}; {report['counts']}"
    )
    for name, ok in report["checks"].items():
        print(f"{'PASS' if ok else 'FAIL'}       {name}")
    print(f"verdict    {'PASS' if report['passed'] else 'FAIL'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--seconds", type=float, help="the duration in seconds (overrides)")
    parser.add_argument("--rate", type=float, default=5, help="requests per second, in all")
    parser.add_argument("--subscribers", type=int, default=50_000)
    parser.add_argument("--send-rate", type=float, help="msg/s; default: the list lasts the run")
    parser.add_argument("--database-url", help="a PostgreSQL server (a scratch DB is made)")
    parser.add_argument("--json", type=Path, default=RESULTS / "soak.json", help="report file")
    parser.add_argument("--sink", nargs=2, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.sink:
        run_sink(int(options.sink[0]), Path(options.sink[1]))
        return 0
    options.seconds = options.seconds or options.minutes * 60
    options.send_rate = options.send_rate or options.subscribers / options.seconds
    work = Path(tempfile.mkdtemp(prefix="mailer-bench-soak-"))
    (work / "sink").mkdir()
    drop = None
    if options.database_url:
        options.backend = "postgresql"
        url, drop = scratch_postgres(options.database_url)
    else:
        options.backend = "sqlite"
        url = f"sqlite:///{work / 'mailer.db'}"
    smtp_port, web_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        MAILER_DATABASE_URL=url, MAILER_DATA_DIR=str(work / "var"), MAILER_SECRET_KEY=SECRET,
        MAILER_SMTP__HOST="127.0.0.1", MAILER_SMTP__PORT=str(smtp_port),
        MAILER_SMTP__RATE=f"{options.send_rate:.3f}", MAILER_PORT=str(web_port),
        MAILER_LOG_LEVEL="warning",
        # Every request comes from 127.0.0.1; the per-IP limit would stop signups at 20.
        MAILER_SUBSCRIPTIONS__PER_IP_PER_HOUR="100000000",
    )  # fmt: skip
    processes: list[subprocess.Popen] = []
    try:
        subprocess.run(
            [sys.executable, "-m", "mailer", "init"], env=env, cwd=ROOT, check=True,
            capture_output=True,
        )  # fmt: skip
        populate(url, options.subscribers)
        tokens = link_tokens(url)
        sink = subprocess.Popen(
            [sys.executable, "-m", "bench.soak", "--sink", str(smtp_port), str(work / "sink")],
            env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(sink)
        wait_port(smtp_port, sink)
        log = (work / "serve.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "mailer", "serve", "--no-scheduler"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        processes.append(server)
        base = f"http://127.0.0.1:{web_port}"
        wait_http(base + "/healthz", server)
        print(
            f"soak: {options.subscribers:,} readers, {options.seconds:.0f} s at "
            f"{options.rate:g} requests/s ({options.backend}); serve pid {server.pid}",
            flush=True,
        )
        load, rss, editions = asyncio.run(
            drive(
                base,
                options=options,
                tokens=tokens,
                server_pid=server.pid,
                work=work,
                url=url,
                env=env,
            )
        )
        if server.poll() is not None:
            load.errors.append((options.seconds, "serve", f"exited {server.returncode}"))
        counts = final_counts(url)
        mails = int((work / "sink" / "count").read_text() or 0)
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if drop:
            drop()
        shutil.rmtree(work, ignore_errors=True)
    report = summarise(options, load=load, rss=rss, editions=editions, counts=counts, mails=mails)
    print_summary(report)
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

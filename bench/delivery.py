"""Delivery benchmark: 100,000 personalised digests to Postfix's smtp-sink, end to end, vs the ceiling.

Run ``python -m bench.delivery`` (options: ``--subscribers``, ``--connections``,
``--backends sqlite,postgresql``, ``--baseline-sample``). It needs ``smtp-sink`` from
the Postfix package (see bench/README.md; ``MAILER_BENCH_SMTP_SINK`` names the binary)
and, for PostgreSQL, a server (``MAILER_BENCH_POSTGRES_URL``, default
postgresql://postgres@127.0.0.1/postgres; a scratch database is created and dropped).

Each measured phase runs in its own process so that its peak RSS is its own:

- end to end: ``queue_edition`` + ``run_worker(until_idle=True)`` — queue, personalise,
  SMTP, state recorded — on SQLite and on PostgreSQL;
- raw ceiling: aiosmtplib ``sendmail`` of one prepared message, 16 connections, no database;
- transport ceiling: our ``RelayConnection`` with the same bytes, no database;
- naive baseline: smtplib, one connection, an ``EmailMessage`` built per recipient
  (run on a sample and extrapolated).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from mailer.store.db import write_transaction

SINK_PATHS = ("/tmp/postfix-root/usr/sbin/smtp-sink", "/usr/sbin/smtp-sink")
RESULTS = Path(__file__).resolve().parent / "results"


# -- the digest -----------------------------------------------------------------------------


def digest_parts(target_bytes: int = 40_000) -> tuple[str, str, str]:
    """A digest like the real one: 30 Korean stories, inlined CSS, seminar block, footer."""
    from mailer.models import PersonalField

    unsubscribe = PersonalField.UNSUBSCRIBE_URL.marker
    preferences = PersonalField.PREFERENCES_URL.marker
    name = PersonalField.NAME.marker
    style = "style=\"margin:0 0 12px 0;font-family:'Apple SD Gothic Neo','Malgun Gothic',sans-serif;font-size:15px;line-height:1.6;color:#1b1f24\""
    stories_html, stories_text = [], []
    index = 0
    while True:
        index += 1
        title = f"시흥시 바이오 클러스터, 신약 개발 기업 {index}곳과 업무협약 체결 — 배곧 바이오 특화단지 확대"
        summary = (
            "시흥시와 한국공학대학교가 K-바이오산업 육성을 위해 지역 바이오 기업과 "
            "공동 연구개발, 인력 양성, 실증 인프라 지원을 확대한다고 밝혔다. "
            "Biotech start-ups in the Siheung cluster will share GMP facilities and pilot lines."
        )
        url = f"https://news.example.kr/articles/2026/11/{1000 + index}?utm_source=rss"
        stories_html.append(
            f'<tr><td {style}><a href="{url}" style="color:#0b6e4f;font-weight:bold;'
            f'text-decoration:none">{title}</a><br><span style="color:#57606a;font-size:13px">'
            f"바이오타임즈 · 2026-11-{index % 28 + 1:02d}</span><p {style}>{summary}</p></td></tr>\n"
        )
        stories_text.append(f"■ {title}\n  {url}\n  {summary}\n")
        if sum(len(story.encode()) for story in stories_html) > target_bytes * 0.6:
            break
    seminar = (
        "「시흥시 K-바이오산업 육성전략 세미나」 상반기 4회, 시흥비즈니스센터. "
        "문의·신청: (재)시흥산업진흥원 미래전략산업실 070-7784-3185"
    )
    footer_text = (
        f"{seminar}\n\n(재)시흥산업진흥원 · 경기도 시흥시 서울대학로 59-21 시흥비즈니스센터 · "
        "070-7784-3185 · news@example.or.kr\n"
        "시흥산업진흥원 바이오산업 소식 받아보기에 동의하셨기 때문에 이 메일을 받으셨습니다.\n"
        f"수신거부 / Unsubscribe: {unsubscribe}\n설정 / Preferences: {preferences}\n"
    )
    html = (
        '<!doctype html><html lang="ko"><body style="margin:0;padding:0;background:#f6f8fa">'
        f'<table width="100%" cellpadding="0" cellspacing="0"><tr><td {style}>'
        f'<h1 style="font-size:22px;color:#0b6e4f">{name}님, 이번 주 바이오산업 뉴스</h1></td></tr>\n'
        + "".join(stories_html)
        + f'<tr><td {style}><p>{seminar}</p><p style="font-size:12px;color:#57606a">'
        f'{footer_text.replace(chr(10), "<br>")}</p><p><a href="{unsubscribe}">수신거부</a> · '
        f'<a href="{preferences}">설정</a></p></td></tr></table></body></html>\n'
    )
    text = f"{name}님, 이번 주 바이오산업 뉴스\n\n" + "\n".join(stories_text) + "\n" + footer_text
    subject = "(광고) 시흥 바이오산업 주간 뉴스 제42호"
    return subject, html, text


# -- set-up ---------------------------------------------------------------------------------


def find_sink() -> Path:
    named = os.environ.get("MAILER_BENCH_SMTP_SINK")
    for candidate in ([named] if named else []) + list(SINK_PATHS) + [shutil.which("smtp-sink")]:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise SystemExit(
        "smtp-sink not found: see bench/README.md (apt-get download postfix; dpkg-deb -x …) "
        "or set MAILER_BENCH_SMTP_SINK"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sink(binary: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(os.environ)
    libs = binary.parent.parent / "lib" / "postfix"  # the .deb keeps its libraries there
    if libs.is_dir():
        env["LD_LIBRARY_PATH"] = f"{libs}:{env.get('LD_LIBRARY_PATH', '')}"
    args = [str(binary)]
    if os.geteuid() == 0:
        args += ["-u", "nobody"]  # smtp-sink drops root privileges to this user
    process = subprocess.Popen(
        [*args, f"127.0.0.1:{port}", "1024"], env=env, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"smtp-sink failed: {process.stderr.read().decode()}") from None
            time.sleep(0.05)
    raise SystemExit("smtp-sink did not start")


BENCH_SECRET = "bench-secret-key-0123456789"


def settings_for(url: str, port: int, connections: int, data_dir: str):
    from mailer.config import load_settings

    return load_settings(
        database_url=url,
        data_dir=data_dir,
        secret_key=BENCH_SECRET,
        base_url="https://news.example.or.kr",
        smtp={"host": "127.0.0.1", "port": port, "connections": connections, "timeout": 60},
        delivery={"batch_size": 500, "poll_seconds": 0.5, "heartbeat_seconds": 5},
    )


def populate(url: str, subscribers: int) -> int:
    """A migrated database with ``subscribers`` active subscribers and one draft edition."""
    from sqlalchemy import insert

    from mailer.keys import IdentityKeys
    from mailer.store import db
    from mailer.store.tables import editions
    from mailer.store.tables import subscribers as subscribers_table

    engine = db.make_engine(url)
    db.upgrade(engine)
    keys = IdentityKeys(BENCH_SECRET)
    now = datetime.now(UTC)
    with write_transaction(engine) as conn:
        for start in range(0, subscribers, 10_000):
            conn.execute(
                insert(subscribers_table),
                [
                    {
                        "email": f"reader{i}@example.kr",
                        "name": f"독자{i}",
                        "status": "active",
                        **keys.new_link(),
                        "attributes": {},
                        "source": "bench",
                        "created_at": now,
                    }
                    for i in range(start, min(start + 10_000, subscribers))
                ],
            )
        subject, html, text = digest_parts()
        edition_id = conn.execute(
            insert(editions)
            .values(
                number=42,
                schedule="bench",
                scheduled_for=now,
                state="draft",
                subject=subject,
                html=html,
                text=text,
                stories=[],
                created_at=now,
            )
            .returning(editions.c.id)
        ).scalar_one()
    engine.dispose()
    return edition_id


def run_child(*args: str) -> dict:
    """Run one measured phase in a fresh process; it prints one JSON line."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.delivery", *args],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if result.returncode != 0:
        raise SystemExit(f"phase {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- measured phases (children) ------------------------------------------------------------


def phase_end_to_end(url: str, port: int, connections: int, edition_id: int, data_dir: str) -> dict:
    from mailer.bootstrap import build_context
    from mailer.delivery import delivery_counts, queue_edition, run_worker

    ctx = build_context(settings_for(url, port, connections, data_dir))
    started = time.perf_counter()
    queued = queue_edition(ctx, edition_id)
    queued_at = time.perf_counter()
    summary = asyncio.run(run_worker(ctx, until_idle=True))
    finished = time.perf_counter()
    counts = delivery_counts(ctx, edition_id).by_state
    ctx.close()
    return {
        "queued": queued,
        "queue_s": queued_at - started,
        "send_s": finished - queued_at,
        "total_s": finished - started,
        "sent": summary.sent,
        "counts": counts,
        "peak_rss_mb": peak_rss_mb(),
    }


def _sample_message(url: str, port: int, connections: int, edition_id: int, data_dir: str):
    from mailer.bootstrap import build_context
    from mailer.mail import Recipient, personalise, prepare_edition
    from mailer.store.deliveries import get_edition

    ctx = build_context(settings_for(url, port, connections, data_dir))
    with ctx.engine.connect() as conn:
        edition = get_edition(conn, edition_id)
    prepared = prepare_edition(ctx.settings, edition, message_id_part="bench")
    data = personalise(prepared, Recipient(1, "reader1@example.kr", "독자1", "A" * 32))
    return ctx, prepared, edition, data


def phase_ceiling(
    url: str,
    port: int,
    connections: int,
    edition_id: int,
    data_dir: str,
    count: int,
    transport: str,
) -> dict:
    import aiosmtplib

    from mailer.mail import RelayConnection

    ctx, prepared, _edition, data = _sample_message(url, port, connections, edition_id, data_dir)
    remaining = [count]

    async def aiosmtplib_sender() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=60)
        await client.connect()
        while remaining[0] > 0:
            remaining[0] -= 1
            await client.sendmail(prepared.sender, ["reader1@example.kr"], data)
        await client.quit()

    async def relay_sender() -> None:
        connection = RelayConnection(ctx.settings.smtp)
        while remaining[0] > 0:
            remaining[0] -= 1
            await connection.deliver(
                data, sender=prepared.sender, recipient="reader1@example.kr", utf8=False
            )
        await connection.close()

    sender = aiosmtplib_sender if transport == "aiosmtplib" else relay_sender

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(connections)))
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    ctx.close()
    return {"messages": count, "total_s": elapsed, "bytes": len(data), "peak_rss_mb": peak_rss_mb()}


def phase_naive(
    url: str, port: int, connections: int, edition_id: int, data_dir: str, count: int
) -> dict:
    from mailer.mail import compose
    from mailer.models import PersonalField

    ctx, _prepared, edition, _data = _sample_message(url, port, connections, edition_id, data_dir)
    links = f"https://news.example.or.kr/unsubscribe/{'A' * 32}"
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for index in range(count):
            values = {
                PersonalField.UNSUBSCRIBE_URL.marker: links,
                PersonalField.PREFERENCES_URL.marker: links,
                PersonalField.NAME.marker: f"독자{index}",
                PersonalField.EMAIL.marker: f"reader{index}@example.kr",
            }
            text, html = edition["text"], edition["html"]
            for marker, value in values.items():
                text, html = text.replace(marker, value), html.replace(marker, value)
            message = compose(
                ctx.settings.compliance,
                to=f"reader{index}@example.kr",
                subject=edition["subject"],
                text=text,
                html=html,
                headers={"List-Unsubscribe": f"<{links}>"},
            )
            client.send_message(message)
    elapsed = time.perf_counter() - started
    ctx.close()
    return {"messages": count, "total_s": elapsed, "peak_rss_mb": peak_rss_mb()}


# -- orchestration ---------------------------------------------------------------------------


def scratch_postgres(base_url: str) -> tuple[str, callable]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from mailer.store import db

    base = make_url(db.normalise_url(base_url))
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"mailer_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--baseline-sample", type=int, default=2_000)
    parser.add_argument("phase", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.phase:  # a child process running one measured phase
        name, *args = options.phase
        functions = {"e2e": phase_end_to_end, "ceiling": phase_ceiling, "naive": phase_naive}
        url, port, connections, edition_id, data_dir, *rest = args
        fixed = [url, int(port), int(connections), int(edition_id), data_dir]
        if name == "ceiling":
            rest = [int(rest[0]), rest[1]]
        elif rest:
            rest = [int(rest[0])]
        print(json.dumps(functions[name](*fixed, *rest)))
        return

    sink, port = start_sink(find_sink())
    work = Path(tempfile.mkdtemp(prefix="mailer-bench-"))
    report: dict = {
        "subscribers": options.subscribers,
        "connections": options.connections,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    cleanups = []
    try:
        urls = {}
        for backend in options.backends.split(","):
            if backend == "sqlite":
                urls["sqlite"] = f"sqlite:///{work / 'bench.db'}"
            else:
                url, drop = scratch_postgres(
                    os.environ.get(
                        "MAILER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"
                    )
                )
                urls["postgresql"] = url
                cleanups.append(drop)
        n, c = options.subscribers, options.connections
        first_url = next(iter(urls.values()))
        for backend, url in urls.items():
            edition_id = populate(url, n)
            print(f"[{backend}] {n} subscribers ready; sending …", flush=True)
            result = run_child("e2e", url, str(port), str(c), str(edition_id), str(work))
            report[f"e2e_{backend}"] = result
            print(f"[{backend}] {result['sent']} sent in {result['total_s']:.1f} s", flush=True)
            if backend == next(iter(urls)):
                report["edition_id"] = edition_id
        common = [first_url, str(port), str(c), str(report["edition_id"]), str(work)]
        report["ceiling_aiosmtplib"] = run_child("ceiling", *common, str(n), "aiosmtplib")
        report["ceiling_transport"] = run_child("ceiling", *common, str(n), "relay")
        report["naive"] = run_child("naive", *common, str(options.baseline_sample))
    finally:
        sink.terminate()
        sink.wait()
        for cleanup in cleanups:
            cleanup()
        shutil.rmtree(work, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    print_report(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "delivery.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))


def print_report(report: dict) -> None:
    n = report["subscribers"]
    ceiling = report["ceiling_aiosmtplib"]
    transport = report["ceiling_transport"]
    naive = report["naive"]
    naive_rate = naive["messages"] / naive["total_s"]
    naive_total = n / naive_rate
    print()
    print(
        f"{n:,} subscribers, {report['connections']} connections, {report['cpus']} CPUs, "
        f"load {report['load_before'][0]:.1f} before / {report['load_after'][0]:.1f} after"
    )
    print(f"message on the wire: {ceiling['bytes']:,} bytes")
    print(
        f"raw ceiling (aiosmtplib sendmail, no DB):   {ceiling['total_s']:6.1f} s  "
        f"{n / ceiling['total_s']:7,.0f} msg/s  rss {ceiling['peak_rss_mb']:.0f} MB"
    )
    print(
        f"transport ceiling (our DATA path, no DB):   {transport['total_s']:6.1f} s  "
        f"{n / transport['total_s']:7,.0f} msg/s"
    )
    print(
        f"naive (smtplib, 1 conn, EmailMessage each): {naive_total:6.1f} s  "
        f"{naive_rate:7,.0f} msg/s  (measured on {naive['messages']:,}, extrapolated)"
    )
    for key, value in report.items():
        if not key.startswith("e2e_"):
            continue
        backend = key.removeprefix("e2e_")
        print(
            f"end to end, {backend:<10}: {value['total_s']:6.1f} s "
            f"(queue {value['queue_s']:.1f} s + send {value['send_s']:.1f} s)  "
            f"{n / value['total_s']:7,.0f} msg/s  {ceiling['total_s'] / value['total_s']:.2f} × raw ceiling  "
            f"{transport['total_s'] / value['total_s']:.2f} × transport ceiling  "
            f"{naive_total / value['total_s']:.0f}× naive  peak rss {value['peak_rss_mb']:.0f} MB  "
            f"states {value['counts']}"
        )


if __name__ == "__main__":
    main()

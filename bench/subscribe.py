"""Benchmark `POST /subscribe`: one uvicorn worker on SQLite, load from another process on loopback.

Run with ``python -m bench.subscribe [--seconds 15] [--connections 16]``. It starts an
SMTP sink process (so mail goes over real SMTP but the relay is never the bottleneck),
``mailer serve`` on a scratch SQLite database, and a load generator: ``wrk`` when it is
installed (Debian package ``wrk``), else an asyncio HTTP/1.1 generator in this process.
Every request is a valid signup for a new address, with the CSRF cookie and token a
browser would send. It prints requests/s, p50 and p99 latency, and how long the queued
confirmation mails took to reach the sink after the load stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_sink(port: int) -> None:
    """An SMTP server that accepts and counts every message (stdout: one line per 1000)."""
    from aiosmtpd.controller import Controller

    class Sink:
        count = 0

        async def handle_DATA(self, server, session, envelope):
            Sink.count += 1
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port, server_hostname="sink")
    controller.start()
    try:
        while True:
            time.sleep(0.2)
            Path(os.environ["SINK_COUNT_FILE"]).write_text(str(Sink.count))
    finally:
        controller.stop()


def sink_count(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def start(args: list[str], env: dict[str, str], *, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def wait_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"SMTP sink exited: {process.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("SMTP sink did not start")


def wait_http(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {process.stderr.read()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


WRK_SCRIPT = """
local counter = 0
local thread_no = 0
local threads = 0
setup = function(thread)
  thread:set("no", threads)
  threads = threads + 1
end
request = function()
  counter = counter + 1
  local body = "%(fields)s&email=b" .. no .. "x" .. counter .. "%%40example.kr"
  return wrk.format("POST", "/subscribe", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "%(cookie)s",
  }, body)
end
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(base: str, fields: str, cookie: str, *, seconds: int, connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"fields": fields, "cookie": cookie})
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)

    def latency(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.+)", output)
    return {
        "tool": "wrk",
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "none",
    }


async def asyncio_load(
    host: str, port: int, fields: str, cookie: str, *, seconds: int, connections: int
) -> dict:
    """A small keep-alive HTTP/1.1 generator, used when wrk is not installed."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def worker(no: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        counter = 0
        while time.perf_counter() < deadline:
            counter += 1
            body = f"{fields}&email=a{no}x{counter}%40example.kr".encode()
            request = (
                f"POST /subscribe HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            status = int(head.split(b" ", 2)[1])
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    begun = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(connections)))
    elapsed = time.perf_counter() - begun
    latencies.sort()
    return {
        "tool": "asyncio",
        "rps": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[int(len(latencies) * 0.99)],
        "requests": len(latencies),
        # A signup answers 303 (POST-redirect-GET); like wrk, count only errors.
        "non_2xx": sum(v for k, v in statuses.items() if not 200 <= k < 400),
        "socket_errors": "none",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-wrk", action="store_true", help="use the asyncio generator")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.sink:
        run_sink(options.sink)
        return

    work = Path(tempfile.mkdtemp(prefix="bench-subscribe-"))
    smtp_port, web_port = free_port(), free_port()
    count_file = work / "sink-count"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        SINK_COUNT_FILE=str(count_file),
        MAILER_DATABASE_URL=f"sqlite:///{work / 'mailer.db'}",
        MAILER_DATA_DIR=str(work / "var"),
        MAILER_SMTP__HOST="127.0.0.1",
        MAILER_SMTP__PORT=str(smtp_port),
        MAILER_PORT=str(web_port),
        MAILER_LOG_LEVEL="warning",
        # Every request comes from 127.0.0.1; the per-IP limit would stop the run at 20.
        MAILER_SUBSCRIPTIONS__PER_IP_PER_HOUR="100000000",
    )
    processes = []
    try:
        subprocess.run(
            [sys.executable, "-m", "mailer", "init"],
            env=env,
            cwd=work,
            check=True,
            capture_output=True,
        )
        sink = start(
            [sys.executable, "-m", "bench.subscribe", "--sink", str(smtp_port)], env, cwd=ROOT
        )
        processes.append(sink)
        wait_port(smtp_port, sink)
        server = start(
            # The web process's own delivery worker sends the confirmation mails (the
            # queue is empty of editions, so it sends notices only).
            [sys.executable, "-m", "mailer", "serve", "--no-scheduler"],
            env,
            cwd=work,
        )
        processes.append(server)
        base = f"http://127.0.0.1:{web_port}"
        wait_http(base + "/healthz", server)

        form = httpx.get(base + "/subscribe")
        cookie = f"mailer_csrf={form.cookies['mailer_csrf']}"
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        version = re.search(r'name="consent_version" value="([^"]+)"', form.text).group(1)
        fields = f"csrf_token={token}&consent_version={version}&consent=yes&lang=ko&website="

        use_wrk = shutil.which("wrk") and not options.no_wrk
        if use_wrk:
            run_wrk(base, fields, cookie, seconds=3, connections=options.connections)  # warm-up
            cpu_before = cpu_seconds(server.pid)
            result = run_wrk(
                base, fields, cookie, seconds=options.seconds, connections=options.connections
            )
        else:
            asyncio.run(
                asyncio_load(
                    "127.0.0.1",
                    web_port,
                    fields,
                    cookie,
                    seconds=3,
                    connections=options.connections,
                )
            )
            cpu_before = cpu_seconds(server.pid)
            result = asyncio.run(
                asyncio_load(
                    "127.0.0.1",
                    web_port,
                    fields,
                    cookie,
                    seconds=options.seconds,
                    connections=options.connections,
                )
            )
        stopped = time.monotonic()
        server_cpu = cpu_seconds(server.pid) - cpu_before
        with sqlite3.connect(work / "mailer.db") as db:
            signups = db.execute("select count(*) from subscribers").fetchone()[0]
            notice_states = dict(
                db.execute("select state, count(*) from notices group by state").fetchall()
            )
        sent_at_stop = sink_count(count_file)
        # Confirmation mails were queued by every signup and go out after the answers.
        deadline = stopped + 120
        while sink_count(count_file) < signups and time.monotonic() < deadline:
            time.sleep(0.5)
        drained = time.monotonic() - stopped
        mails = sink_count(count_file)
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"POST /subscribe, 1 uvicorn worker, SQLite, {options.connections} connections, "
        f"{options.seconds} s ({result['tool']}, loopback)"
    )
    print(f"  requests/s   {result['rps']:.0f}")
    print(f"  p50          {result['p50']:.2f} ms")
    print(f"  p99          {result['p99']:.2f} ms")
    print(
        f"  requests     {result['requests']} (non-2xx {result['non_2xx']}, "
        f"socket errors {result['socket_errors']})"
    )
    cpu_ms = server_cpu * 1000 / max(result["requests"], 1)
    print(
        f"  server CPU   {cpu_ms:.2f} ms per request (all work of the web process, including "
        f"the notice mails it sent meanwhile); load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(f"  subscribers  {signups} pending rows; notices at the end of the load: {notice_states}")
    print(
        f"  mails        {sent_at_stop} at the end of the load, {mails} after {drained:.1f} s "
        f"more ({mails / max(drained, 0.001):.0f}/s while draining)"
    )


if __name__ == "__main__":
    main()

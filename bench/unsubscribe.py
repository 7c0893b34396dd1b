"""Benchmark one-click unsubscribe latency on SQLite: idle, and while a 20,000-row CSV import runs.

Run with ``python -m bench.unsubscribe [--rows 20000] [--readers 2000]``. It initialises
a scratch database, imports the readers, starts ``mailer serve`` (no scheduler, no
worker: only the requests and the import write), then POSTs RFC 8058 one-clicks one
after another — first with nothing else running, then while ``mailer subscribers
import`` of a fresh file runs in another process — and prints p50 / p95 / max latency
and how many answered 200 in each phase. Only the CLI and HTTP are used, so the same
script measures any version.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from mailer.keys import IdentityKeys

ROOT = Path(__file__).resolve().parent.parent
BODY = b"List-Unsubscribe=One-Click"
SERVING = re.compile(r"Uvicorn running on (http://\S+)")


def write_csv(path: Path, prefix: str, count: int) -> Path:
    lines = ["email,name"] + [f"{prefix}{n}@example.kr,독자 {n}" for n in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def mailer(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mailer", *args], env=env, cwd=ROOT, **kwargs)


def serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    # Output to a file, read back for the address: a full pipe would stall the server.
    with log.open("w") as output:
        process = mailer(
            "serve", "--port", "0", "--no-scheduler", "--no-worker",
            env={**env, "MAILER_LOG_LEVEL": "info"}, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if found := SERVING.search(log.read_text()):
            return process, found.group(1)
        time.sleep(0.1)
    raise SystemExit(f"mailer serve did not start:\n{log.read_text()}")


def one_clicks(base: str, tokens: list[str], *, until) -> tuple[list[float], int]:
    """POST one-clicks until ``until()`` is true or the tokens run out: (latencies, 200s)."""
    latencies: list[float] = []
    ok = 0
    with httpx.Client(base_url=base, timeout=120) as http:
        while tokens and not until():
            started = time.perf_counter()
            answer = http.post(
                f"/unsubscribe/{tokens.pop()}",
                content=BODY,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            latencies.append(time.perf_counter() - started)
            ok += answer.status_code == 200
    return latencies, ok


def report(phase: str, latencies: list[float], ok: int) -> None:
    if not latencies:
        print(f"{phase}: no request made")
        return
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    print(
        f"{phase}: {len(latencies)} one-clicks, {ok} answered 200; "
        f"p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--readers", type=int, default=2_000)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="mailer-bench-unsubscribe-"))
    database = scratch / "mailer.db"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILER_")},
        "MAILER_DATABASE_URL": f"sqlite:///{database}",
        "MAILER_DATA_DIR": str(scratch / "var"),
        "MAILER_SECRET_KEY": "bench-secret-key-0123456789abcdef",
        "MAILER_SMTP__HOST": "127.0.0.1",
        "MAILER_SMTP__PORT": "9",
    }
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    assert mailer("init", **quiet).wait() == 0
    readers = write_csv(scratch / "readers.csv", "reader", args.readers)
    assert mailer("subscribers", "import", str(readers), "--confirmed", **quiet).wait() == 0
    # Only the seed is stored: the token is an HMAC of it with the secret key.
    keys = IdentityKeys(env["MAILER_SECRET_KEY"])
    with sqlite3.connect(database) as conn:
        seeds = conn.execute("SELECT token_seed FROM subscribers").fetchall()
    tokens = [keys.link_token(seed) for (seed,) in seeds]
    big = write_csv(scratch / "big.csv", "imported", args.rows)
    server, base = serve(env, scratch / "serve.log")
    try:
        idle_until = time.monotonic() + 5
        report("idle", *one_clicks(base, tokens, until=lambda: time.monotonic() > idle_until))
        started = time.monotonic()
        importing = mailer("subscribers", "import", str(big), "--confirmed", **quiet)
        latencies, ok = one_clicks(base, tokens, until=lambda: importing.poll() is not None)
        importing.wait()
        print(f"import of {args.rows} rows took {time.monotonic() - started:.1f} s")
        report("during the import", latencies, ok)
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()

"""Benchmark: wall time of short CLI commands, start-up included; target ≤ 0.3 s for `mailer --help`.

Run with ``python -m bench.startup [--runs N]``. It initialises a throw-away SQLite
database once (``mailer init``), then runs ``mailer --help``, ``mailer feeds list`` and
``mailer subscribers list`` N times each as subprocesses (``python -m mailer …``) and
prints the median, minimum and maximum in milliseconds. The bare interpreter
(``python -c pass``) is measured too: it is the floor no command can go below.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_HELP_MS = 300.0

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "mailer --help": ["-m", "mailer", "--help"],
    "mailer feeds list": ["-m", "mailer", "feeds", "list"],
    "mailer subscribers list": ["-m", "mailer", "subscribers", "list"],
}


def environment(directory: Path) -> dict[str, str]:
    """This environment without MAILER_* settings, on a database in ``directory``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["MAILER_DATABASE_URL"] = f"sqlite:///{directory / 'mailer.db'}"
    env["MAILER_DATA_DIR"] = str(directory / "var")
    return env


def run(args: list[str], *, env: dict[str, str], cwd: Path) -> float:
    """Seconds one subprocess took, start to exit; a failing command stops the benchmark."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per command (default 20)")
    options = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mailer-bench-startup-") as name:
        directory = Path(name)
        env = environment(directory)
        run(["-m", "mailer", "init"], env=env, cwd=directory)
        print(f"{options.runs} runs each, wall time of the whole subprocess (ms)")
        print(f"{'command':<26}{'median':>9}{'min':>9}{'max':>9}")
        medians = {}
        for label, args in COMMANDS.items():
            run(args, env=env, cwd=directory)  # warm the page cache and .pyc files first
            times = [run(args, env=env, cwd=directory) * 1000 for _ in range(options.runs)]
            medians[label] = statistics.median(times)
            print(f"{label:<26}{medians[label]:>9.0f}{min(times):>9.0f}{max(times):>9.0f}")
    verdict = "meets" if medians["mailer --help"] <= TARGET_HELP_MS else "misses"
    print(f"`mailer --help` median {verdict} the target of {TARGET_HELP_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

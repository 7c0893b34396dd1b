"""`make bench`: run every benchmark one after another, each in its own process (the soak only when named).

`python -m bench [NAME ...]` runs only the named ones (feeds, digest, subscribe, delivery, startup, unsubscribe, clusters, sections, soak).
The soak (30 minutes) runs only when named: ``make bench BENCH=soak``.
Each prints its own figures; bench/README.md records what they gave on this machine.
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = (
    "feeds",
    "digest",
    "subscribe",
    "delivery",
    "startup",
    "unsubscribe",
    "clusters",
    "sections",
    "soak",
)
# Run only when named: it takes 30 minutes.
LONG = ("soak",)


def main(argv: list[str]) -> int:
    chosen = argv or [name for name in BENCHMARKS if name not in LONG]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        print(f"=== bench.{name}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Benchmark: how well the shipped sections file Korean and English headlines (tests/data/sections.jsonl).

Run with ``python -m bench.sections``: accuracy on all labelled headlines and on each
split, with the headlines that land elsewhere (labelled section <- section given).
"""

from __future__ import annotations

from mailer.config import load_settings
from tests.labelled import misfiled


def main() -> None:
    sections = load_settings(secret_key="bench-" + "x" * 40).digest.sections
    for split in (None, "development", "held-out"):
        total, wrong = misfiled(split, sections)
        print(f"{split or 'all':<12} {total:>3} headlines: accuracy {1 - len(wrong) / total:.3f}")
        for line in wrong:
            print(f"    {line}")


if __name__ == "__main__":
    main()

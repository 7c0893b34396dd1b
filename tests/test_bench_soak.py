"""The soak benchmark runs end to end for a few seconds and prints its summary (so `bench.soak` does not rot)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_short_soak_drives_every_kind_of_request_and_reports(tmp_path):
    report_file = tmp_path / "soak.json"
    run = subprocess.run(
        [
            sys.executable, "-m", "bench.soak", "--seconds", "8", "--subscribers", "200",
            "--json", str(report_file),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert "verdict" in run.stdout, run.stdout + run.stderr
    report = json.loads(report_file.read_text())
    # The exit status is the verdict the summary prints, whichever it is on this machine.
    assert run.returncode == (0 if report["passed"] else 1)
    assert report["errors"] == 0, report["first_errors"]
    # A confirmation was made from a link read out of a real confirmation mail.
    assert report["by_kind"].get("confirm", 0) >= 1
    assert report["by_kind"]["signup"] >= 1 and report["by_kind"]["unsubscribe"] >= 1
    assert report["counts"]["deliveries"].get("sent", 0) >= 1
    assert report["rss_start_mb"] > 0 and report["per_bucket"]

"""bench/window.py at a small N, to keep the benchmark working (its figures are not judged here: a
benchmark is not a timed test). Both designs must patch every group, and the JSON line must carry
every field the README's table is read from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "window.py"
FIELDS = {"wall_seconds", "api_calls", "api_calls_per_group", "api_calls_by_operation", "throttled_responses",
          "failed_groups", "cpu_seconds", "max_rss_mb", "ratio"}  # fmt: skip


@pytest.mark.timeout(600)  # about 3 minutes alone; a loaded CI machine takes longer
def test_a_small_window_runs_both_designs_and_prints_one_json_line_last():
    done = subprocess.run([sys.executable, str(BENCH), "--groups", "2", "--regions", "2", "--concurrency", "2"],
                          capture_output=True, text=True, timeout=560)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert (line["groups"], line["regions"], line["concurrency"]) == (2, 2, 2)
    assert set(line) >= FIELDS and set(line["baseline"]) >= FIELDS
    assert line["failed_groups"] == 0 and line["baseline"]["failed_groups"] == 0
    assert line["floor_seconds"] >= 19, "never below one cycle of the sandbox's timings"
    for design in (line, line["baseline"]):
        assert design["api_calls_by_operation"]["ec2:CreateImage"] == 2, "one image a group"
        assert sum(design["api_calls_by_operation"].values()) == design["api_calls"]

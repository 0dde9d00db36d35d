"""The catch-up steps benchmark still runs: its --quick mode, on the 2,000-entry journal.

bench/bench_catch_up_steps.py is not part of the test run (half a minute on the ten-year
journal), so without this it could rot unnoticed. Its quick mode runs every step and the whole
ingest once, and fails if an entry is refused or not stored; its figures are not checked here,
only that each step timed what it says over the entries it says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench_quick import run_quick

pytestmark = pytest.mark.slow


def test_the_catch_up_steps_bench_runs_quick_over_every_entry(tmp_path: Path) -> None:
    report = run_quick("bench_catch_up_steps.py", tmp_path / "catch_up_steps.json", timeout=300)
    entries, keyed = report["entries"], report["keyed"]
    assert entries > 2000 and 0 < keyed < entries  # membership entries carry no key record
    steps = {s["name"]: s for s in report["steps"]}
    assert all(s["median_ms"] > 0 for s in steps.values())
    opening = [s for s in report["steps"] if s["part_of_opening"]]
    assert len(opening) == 6
    summed = sum(s["median_ms"] for s in opening) * 1000 / entries
    assert report["opening_per_entry_us"] == pytest.approx(summed, rel=0.01)
    assert report["target_per_entry_us"] == pytest.approx(1000 * 1000 / 36_500, rel=0.01)

"""The relay load benchmark still runs: its --quick mode, for a few seconds, on every full run.

bench/bench_relay_load.py is not part of the test run (a minute of load on a shared machine),
so without this it could rot unnoticed. Its quick mode runs every piece (workers, both hostile
clients, the Hello probe, the RSS samples, idle devices) at a small scale, and fails if an
entry was lost or duplicated; its performance figures are not checked here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_relay_load.py"


def test_the_relay_load_bench_runs_quick_and_loses_nothing(tmp_path: Path) -> None:
    results = tmp_path / "relay_load.json"
    run = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--results", str(results)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout.decode()[-2000:] + run.stderr.decode()[-2000:]
    report = json.loads(results.read_text())
    (load,) = report["load"]
    assert load["acked_entries"] > 0
    assert (load["lost"], load["duplicated"], load["stray"]) == (0, 0, 0)
    assert {a["kind"] for a in load["attacks"]} == {"big-hello", "mailbox-flood"}
    assert load["probe_hellos"] > 0
    assert report["idle"][0]["devices"] > 0

"""The relay load benchmark still runs: its --quick mode, for a few seconds, on every full run.

bench/bench_relay_load.py is not part of the test run (a minute of load on a shared machine),
so without this it could rot unnoticed. Its quick mode runs every piece (workers, both hostile
clients, the Hello probe, the RSS samples, idle devices) at a small scale, and fails if an
entry was lost or duplicated; its performance figures are not checked here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench_quick import run_quick

pytestmark = pytest.mark.slow


def test_the_relay_load_bench_runs_quick_and_loses_nothing(tmp_path: Path) -> None:
    report = run_quick("bench_relay_load.py", tmp_path / "relay_load.json", timeout=180)
    (load,) = report["load"]
    assert load["acked_entries"] > 0
    assert (load["lost"], load["duplicated"], load["stray"]) == (0, 0, 0)
    assert {a["kind"] for a in load["attacks"]} == {"big-hello", "mailbox-flood"}
    assert load["probe_hellos"] > 0
    assert report["idle"][0]["devices"] > 0

"""Running a benchmark script in its --quick mode from the suite, so that it cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run_quick(script: str, results: Path, timeout: float) -> dict[str, Any]:
    """Run bench/`script` --quick, its report written to `results`; the report, once it has
    exited cleanly (else the test fails with the tail of what it printed)."""
    run = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", "--results", str(results)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )
    assert run.returncode == 0, run.stdout.decode()[-2000:] + run.stderr.decode()[-2000:]
    report: dict[str, Any] = json.loads(results.read_text())
    return report

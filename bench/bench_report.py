"""Benchmark `tend report` on ten years of two partners (36,500 entries).

Run from the repository root:

    python bench/bench_report.py [--quick]

It uses the ten-year journal bench/bench_journal.py builds and caches under bench/.work/ (built
once if it is missing), on a copy in bench/.work/report-run/. It measures the whole command as a
process (what a person waits for: Python, matplotlib's import, opening the journal, drawing,
writing), the same in-process, and where the time goes, plus the same report drawn with one
point per day instead of weekly means, for reference. Results go to bench/results/report.json.
Target: 5 s for the whole command.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

# Run as a script from the checkout: its tests/ and bench/ helpers import from there.
_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))

import argparse
import contextlib
import datetime as dt
import io
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.bench_journal import (
    RESULTS,
    WORK,
    Result,
    _process,
    _tend_command,
    big_home,
    copy_home,
    machine,
    measure,
    table,
)
from tend.cli.main import main as tend_main
from tend.core.journal import Journal
from tend.core.views import report
from tend.present import report_charts, report_page

TARGET_MS = 5000.0


def _in_process(home: Path, out: Path, *extra: str) -> None:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = tend_main(["--home", str(home), "report", "--out", str(out), *extra])
    assert code == 0 and "Wrote the report" in printed.getvalue(), printed.getvalue()


def _stages(home: Path, out: Path, rounds: int) -> list[Result]:
    """Where the time of one in-process report goes (each stage's median over `rounds`)."""
    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        marks = [time.perf_counter()]
        with Journal.open(home) as j:
            items = j.items()
            me = j.device.person
        marks.append(time.perf_counter())
        start, end = report.default_range(items, None, None, dt.date.today())
        view = report.gather(items, me, start, end, private_only=False)
        marks.append(time.perf_counter())
        charts = [
            report_charts.chart_svg(view.chart(s), f"tend-report-{n}")
            for n, s in enumerate(view.people)
        ]
        marks.append(time.perf_counter())
        page = report_page.render_html(view, dt.date.today(), charts)
        marks.append(time.perf_counter())
        report_page.write(out, page)
        marks.append(time.perf_counter())
        for name, a, b in zip(
            ("open + items", "gather (period view)", "charts (matplotlib SVG)", "HTML", "write"),
            marks,
            marks[1:],
            strict=False,
        ):
            times.setdefault(name, []).append((b - a) * 1000)
    return [Result(f"  stage: {name}", samples) for name, samples in times.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else 7
    started = time.perf_counter()
    WORK.mkdir(exist_ok=True)
    big, info = big_home()
    run = WORK / "report-run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    results: list[Result] = []
    try:
        home = copy_home(big, run / "home")
        out = run / "report.html"
        tend = _tend_command()
        process = _process([*tend, "--home", str(home), "report", "--out", str(out)], rounds)
        process.name, process.target_ms = "tend report, ten years, as a process", TARGET_MS
        process.note = "Python + imports + open + draw + write"
        results.append(process)
        size = out.stat().st_size
        in_proc = measure(lambda: _in_process(home, out), rounds)
        results.append(Result("tend report, ten years, in-process", in_proc, TARGET_MS))
        private = measure(lambda: _in_process(home, out, "--only-mine"), rounds)
        results.append(Result("tend report --only-mine, in-process", private, TARGET_MS))
        year = (dt.date.today() - dt.timedelta(days=365)).isoformat()
        one_year = measure(lambda: _in_process(home, out, "--from", year), rounds)
        results.append(Result("tend report, last year (daily), in-process", one_year, TARGET_MS))
        results.extend(_stages(home, out, rounds))
        daily_limit = report.DAILY_UP_TO_DAYS
        report.DAILY_UP_TO_DAYS = 10**6  # reference only: ten years drawn day by day
        try:
            daily = measure(lambda: _in_process(home, out), rounds)
            daily_size = out.stat().st_size
        finally:
            report.DAILY_UP_TO_DAYS = daily_limit
        results.append(
            Result(
                "  reference: ten years day by day",
                daily,
                None,
                f"no weekly means; page {daily_size / 1e6:.1f} MB",
            )
        )
        for r in results:
            print(f"  {r.name}: median {r.median_ms:.0f} ms (n={r.n})", flush=True)
    finally:
        shutil.rmtree(run, ignore_errors=True)
    summary: dict[str, Any] = {
        "when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "journal": {k: info[k] for k in ("events", "first_day", "last_day")},
        "page_bytes": size,
        "weekly_after_days": report.DAILY_UP_TO_DAYS,
        "results": [r.as_json() for r in results],
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    print()
    print(table(results))
    print()
    print(f"ten-year page: {size / 1e6:.1f} MB")
    print(json.dumps(summary, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
    median_s = statistics.median(process.samples_ms) / 1000
    print(f"\nmedian whole command: {median_s:.2f} s (target {TARGET_MS / 1000:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

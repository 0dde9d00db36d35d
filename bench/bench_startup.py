"""Whole-process start-up of the commands people run most, beside another build of tend.

`tend checkin` and `tend today` on a fresh home are timed as whole processes (imports, opening
the journal, the work, exit), with bytecode cached as an installed tend runs. With `--against
TEND`, another `tend` executable (say, a checkout of an earlier commit installed in its own
venv) runs the same commands on its own fresh home, interleaved run by run with this one, so a
noisy machine slows both alike; the figures are medians, and the ratio is this one's median over
the other's.

    python bench/bench_startup.py [--rounds 40] [--against /path/to/other/venv/bin/tend]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

COMMANDS = {"tend checkin": ["checkin", "--day", "rest"], "tend today": ["today"]}


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TEND_HOME", "TEND_PASSPHRASE")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cache)  # as installed: bytecode cached, not beside sources
    return env


def _run(argv: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-300:]}")
    return (time.perf_counter() - started) * 1000


def _fresh_home(tend: str, root: Path, env: dict[str, str]) -> Path:
    home = root / "home"
    _run([tend, "--home", str(home), "init", "--name", "Robin"], env)
    return home


def measure(builds: dict[str, str], rounds: int) -> dict[tuple[str, str], list[float]]:
    """Milliseconds per (build, command), the builds' runs interleaved."""
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="tend-startup-") as tmp:
        homes, envs = {}, {}
        for name, tend in builds.items():
            root = Path(tmp) / name
            envs[name] = _env(root / "pycache")
            homes[name] = _fresh_home(tend, root, envs[name])
        for command, args in COMMANDS.items():
            for warm in range(rounds + 3):
                for name, tend in builds.items():
                    took = _run([tend, "--home", str(homes[name]), *args], envs[name])
                    if warm >= 3:  # the first runs write the bytecode cache
                        times.setdefault((name, command), []).append(took)
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--against", help="another tend executable to compare with")
    args = parser.parse_args(argv)
    here = shutil.which("tend", path=str(Path(sys.executable).parent)) or shutil.which("tend")
    if here is None:
        raise SystemExit("cannot find the `tend` command; install the project first")
    builds = {"this": here, **({"other": args.against} if args.against else {})}
    times = measure(builds, args.rounds)
    print(f"{'command (fresh home)':<24} {'build':<6} {'median ms':>10} {'p90 ms':>8}")
    for command in COMMANDS:
        for name in builds:
            got = sorted(times[(name, command)])
            p90 = got[int(len(got) * 0.9) - 1]
            print(f"{command:<24} {name:<6} {statistics.median(got):>10.1f} {p90:>8.1f}")
        if "other" in builds:
            ratio = statistics.median(times[("this", command)]) / statistics.median(
                times[("other", command)]
            )
            print(f"{command:<24} {'ratio':<6} {ratio:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

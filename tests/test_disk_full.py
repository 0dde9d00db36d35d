"""A full disk refuses a write with one clear line, and leaves the journal whole.

The test limits the size of any file the `tend` process may write (RLIMIT_FSIZE), which is how
an ordinary user can make a real disk say "no more" without mounting anything.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the real command, once per place the disk fills up

TEND = str(Path(sys.executable).parent / "tend")


def run(
    home: Path, *args: str, max_file_bytes: int | None = None
) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get an error from write(), not a kill
        assert max_file_bytes is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run(
        [TEND, "--home", str(home), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        preexec_fn=limit if max_file_bytes is not None else None,
        env={k: v for k, v in os.environ.items() if k != "TEND_HOME"},
    )


def entry_notes(home: Path) -> list[str]:
    out = run(home, "timeline", "--json", "--type", "checkin")
    assert out.returncode == 0, out.stderr
    return [e["fields"]["note"] for e in json.loads(out.stdout)["events"]]


@pytest.mark.parametrize("headroom", [-8000, 0, 2000, 6000, 12000])
def test_a_full_disk_refuses_the_write_in_one_line_and_loses_nothing(
    tmp_path: Path, headroom: int
) -> None:
    home = tmp_path / "home"
    assert run(home, "init", "--name", "Sam").returncode == 0
    for n in range(3):
        assert run(home, "checkin", "--note", f"kept-{n}").returncode == 0
    before = entry_notes(home)
    biggest = max(p.stat().st_size for p in home.iterdir())

    result = run(home, "checkin", "--note", "y" * 1900, max_file_bytes=biggest + headroom)

    after = entry_notes(home)
    if result.returncode == 0:
        assert after == [*before, "y" * 1900]
    else:
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "disk" in lines[0], result.stderr
        assert "Traceback" not in result.stderr
        assert after == before
    verify = run(home, "verify")
    assert verify.returncode == 0, verify.stderr


def test_at_least_one_limit_really_fills_the_disk(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run(home, "init", "--name", "Sam").returncode == 0
    biggest = max(p.stat().st_size for p in home.iterdir())
    # The journal holds more tables (content keys, the small view snapshot) than the WAL of one
    # check-in needs.
    result = run(home, "checkin", "--note", "z" * 1900, max_file_bytes=biggest - 16000)
    assert result.returncode == 1
    assert "disk" in result.stderr

"""Shared test helpers.

End-to-end helpers: `TendCLI` runs the installed `tend` command as a real subprocess on one
temporary home, with no terminal (stdin is /dev/null) and a timeout, so a command that waits
for input fails the test instead of hanging it. The `tend` fixture gives one on a fresh home.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

TEND_TIMEOUT = 30.0


def tend_executable() -> str:
    """The `tend` script of the environment running the tests (the venv's bin dir first)."""
    beside = Path(sys.executable).parent / "tend"
    if beside.is_file():
        return str(beside)
    found = shutil.which("tend")
    if found is None:
        raise RuntimeError("the tend command is not installed: pip install -e .")
    return found


def tend_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without any TEND_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEND_")}
    env.update(extra or {})
    return env


class TendCLI:
    """Runs `tend --home HOME ...` as a subprocess; every run must be traceback-free."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def argv(self, *args: str) -> list[str]:
        return [tend_executable(), "--home", str(self.home), *args]

    def __call__(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = TEND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.argv(*args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=tend_env(env),
            check=False,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def ok(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """Run, insist on exit 0, return stdout."""
        result = self(*args, env=env)
        assert result.returncode == 0, (args, result.returncode, result.stderr)
        return result.stdout

    def json(self, *args: str, env: Mapping[str, str] | None = None) -> Any:
        """Run a read command with --json and parse what it printed."""
        return json.loads(self.ok(*args, "--json", env=env))


def stored_entries(home: Path) -> list[tuple[bytes, int, bytes]]:
    """(log id, seq, entry bytes) of every stored entry, read without tend and without writing.

    Call only when no tend process is running: then SQLite has checkpointed its write-ahead log.
    """
    wal = home / "journal.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0, "a tend process left an open WAL"
    db = sqlite3.connect(f"file:{home / 'journal.db'}?immutable=1", uri=True)
    try:
        rows = db.execute("SELECT log_id, seq, entry FROM entries ORDER BY rowid").fetchall()
    finally:
        db.close()
    return [(bytes(log), int(seq), bytes(raw)) for log, seq, raw in rows]


@pytest.fixture
def tend(tmp_path: Path) -> TendCLI:
    """`tend` on a fresh home (not created yet: run `tend("init", ...)` first)."""
    return TendCLI(tmp_path / "home")

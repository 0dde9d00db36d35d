"""Shared test helpers.

End-to-end helpers: `TendCLI` runs the installed `tend` command as a real subprocess on one
temporary home, with no terminal (stdin is /dev/null) and a timeout, so a command that waits
for input fails the test instead of hanging it. The `tend` fixture gives one on a fresh home.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tend.core.crypto.keystore import DeviceKeys
from tend.core.ids import LogId
from tend.core.journal import Journal

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


@pytest.fixture
def agent_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A runtime directory of this test's own for unlock agents, short enough for a Unix
    socket's path (at most 108 bytes: a test's own tmp_path, under a worker's folder, is not)."""
    folder = Path(tempfile.mkdtemp(prefix="tr-"))
    folder.chmod(0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    monkeypatch.delenv("TEND_PASSPHRASE", raising=False)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


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


# --- devices and people, made directly (library tests that need no pairing) ------------------


def new_person_device(space: bytes, like: DeviceKeys | None = None) -> DeviceKeys:
    """A device of a new person in `space` (their own root); with `like`, holding the same space
    keys and epoch as that device, as a paired partner's would."""
    from tend.core.crypto import keys
    from tend.core.ids import SpaceId

    root = keys.new_root()
    device = DeviceKeys.generate(SpaceId(space), keys.PersonSecrets.from_root(root), root)
    if like is not None:
        device.space_keys, device.epoch = dict(like.space_keys), like.epoch
    return device


def another_device_of(of: DeviceKeys) -> DeviceKeys:
    """A second device of the same person as `of`: the same identity and keys, its own log."""
    import dataclasses

    from tend.core.crypto import keys

    return dataclasses.replace(
        of,
        sign_seed=keys.new_signing_seed(),
        dh_secret=keys.new_dh_secret(),
        local_key=keys.new_key(),
        space_keys=dict(of.space_keys),
        settings={},
        anchors=dict(of.anchors),
        root=None,
    )


def started(journal: Journal, name: str | None = None, label: str = "") -> Journal:
    """Write a journal's first entries (its own claim, and a name), as Journal.begin does."""
    from tend.core.domain.events import PersonNamed

    journal.record(journal.own_claim(label))
    if name:
        journal.record(PersonNamed(person=journal.device.person, name=name))
    return journal


# --- pairing and exchanging entries without a relay (library tests) ----------------------------


def invite(host: Journal, home: Path, *, own: bool, name: str | None, label: str = "") -> Journal:
    """Bring a new device into `host`'s journal through a real invitation (no relay needed)."""
    from tend.core.trust import pairing

    return pairing.pair_directly(
        host, home, own=own, name=name, label=label or home.name, relay="http://127.0.0.1:1"
    )


def entries_of(journal: Journal) -> list[bytes]:
    return [s.entry for s in journal.store.since(0)]


def keys_of(journal: Journal) -> dict[tuple[LogId, int], bytes]:
    """The key records beside `journal`'s entries (the wrapped content keys), by position: what
    sync carries next to the entries."""
    return {(s.log, s.seq): s.key for s in journal.store.since(0) if s.key is not None}


def gossip(*journals: Journal) -> None:
    """Every journal ingests what every other holds, as sync through a relay would."""
    from tend.core.trust.ingest import ingest

    for _round in range(2):  # a second round brings in what arrived only via a third
        for target in journals:
            for source in journals:
                if source is not target:
                    ingest(target, entries_of(source), keys=keys_of(source))


# --- a real relay on 127.0.0.1, and pairing through it with the real command -------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Relay:
    """`tend relay serve` as a subprocess that can be killed and started again on one db.

    `args` are more flags for `serve`, `env` more environment; with `split_log`, stderr (the
    relay's JSON log) goes to its own file, `relay.err`, apart from stdout's listening line;
    `db`, a PostgreSQL DSN to keep the store in instead of the folder's SQLite file."""

    def __init__(
        self,
        folder: Path,
        *args: str,
        host: str = "127.0.0.1",
        scheme: str = "http",
        env: Mapping[str, str] | None = None,
        split_log: bool = False,
        db: str | None = None,
    ) -> None:
        self.folder = folder
        self.db = folder / "relay.db"
        self.store = db or str(self.db)  # where the relay keeps its store: that file, or a DSN
        self.host = host
        self.reach = "127.0.0.1" if host == "0.0.0.0" else host  # where to knock when it starts
        self.port = free_port()
        self.url = f"{scheme}://{'localhost' if scheme == 'https' else '127.0.0.1'}:{self.port}"
        self.args = args
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / "relay.log"
        self.err = folder / "relay.err" if split_log else self.log

    def start(self) -> None:
        argv = [tend_executable(), "relay", "serve", "--host", self.host, "--port", str(self.port)]
        with self.log.open("ab") as log, self.err.open("ab") as err:
            self.proc = subprocess.Popen(
                [*argv, "--db", self.store, *self.args],
                stdout=log,
                stderr=err if self.err != self.log else subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=tend_env(self.env),
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.reach, self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the relay exited: {self.err.read_text()}") from None
                time.sleep(0.05)
        raise RuntimeError("the relay did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    folder = tmp_path / "relay"
    folder.mkdir()
    running = Relay(folder)
    running.start()
    yield running
    running.stop()


def pair(
    inviter: TendCLI,
    joiner: TendCLI,
    relay: Relay,
    *extra: str,
    name: str | None = "Alex",
    env: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Run `tend invite` and `tend join` against each other; returns both safety-code lines.

    The joiner is given the code and nothing else: the code carries the relay."""
    proc = subprocess.Popen(
        inviter.argv("invite", "--relay", relay.url, "--wait", "60", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=tend_env(env),
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("Invite code: "), (first, proc.stderr.read() if proc.stderr else "")
    code = first.split(": ", 1)[1].strip()
    joined = joiner.ok("join", code, *(("--name", name) if name else ()), env=env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    inviter_code = next(line for line in out.splitlines() if "Safety code" in line)
    joiner_code = next(line for line in joined.splitlines() if "Safety code" in line)
    return inviter_code, joiner_code


def pin(*devices: DeviceKeys) -> None:
    """What pairing does for devices made directly: each trusts the others as anchors."""
    from tend.core.crypto.keystore import Anchor

    for device in devices:
        for other in devices:
            if other.log != device.log:
                device.anchors[other.log] = Anchor(other.sign_public, other.identity)


def restored_from(home: Path, phrase: str, blob: bytes) -> Journal:
    """What `tend recovery restore` makes of a phrase and the escrow blob, before it syncs (the
    relay address is one nothing listens on: the tests hand entries over themselves)."""
    from tend.core.crypto import keys
    from tend.core.trust import recovery

    person = keys.PersonSecrets.from_root(recovery.root_of(phrase))
    found = recovery.open_escrow(person, blob)
    return recovery.restore(home, person, found, relay="http://127.0.0.1:1", label="new", lock=None)

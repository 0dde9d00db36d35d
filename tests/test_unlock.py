"""A passphrase asked once a session: the unlock agent, and `tend` on a real terminal.

The agent is a real process on a real Unix socket; the terminal is a real pseudo-terminal that
pexpect types into, as a person would."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from tend.cli import unlock_agent
from tend.core.crypto import keystore, passphrase
from tests.conftest import TendCLI, tend_env, tend_executable

pytestmark = pytest.mark.slow  # agent processes, a real terminal, and passphrase stretching

STRONG = "maple river lantern cobalt"
FAST = passphrase.Cost(time=1, memory_kib=64, lanes=1)


@pytest.fixture
def runtime(agent_runtime: Path, tmp_path: Path) -> Iterator[Path]:
    """A runtime directory of this test's own, so agents never meet another test's."""
    yield agent_runtime
    for home in (tmp_path / "home", tmp_path / "a", tmp_path / "b"):
        unlock_agent.forget(home)  # no agent outlives its test


def _wait_for(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("the agent did not get there in time")


def test_the_agent_hands_back_the_lock_it_was_given_until_told_to_forget(
    runtime: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    lock = passphrase.new_lock(STRONG, FAST)
    unlock_agent.start(home, lock)
    _wait_for(lambda: unlock_agent.held_lock(home) is not None)
    assert unlock_agent.held_lock(home) == lock
    assert unlock_agent.held_lock(tmp_path / "a") is None  # one agent, one journal
    path = unlock_agent.socket_path(home)
    assert path is not None
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    assert unlock_agent.forget(home)
    assert unlock_agent.held_lock(home) is None
    _wait_for(lambda: not path.exists())
    assert not unlock_agent.forget(home)


def test_a_newer_unlock_replaces_the_older_agent(runtime: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first, second = passphrase.new_lock(STRONG, FAST), passphrase.new_lock(STRONG, FAST)
    unlock_agent.start(home, first)
    _wait_for(lambda: unlock_agent.held_lock(home) == first)
    unlock_agent.start(home, second)
    _wait_for(lambda: unlock_agent.held_lock(home) == second)


def test_the_agent_forgets_by_itself_after_its_idle_time(
    runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("TEND_UNLOCK_MINUTES", "0.02")  # 1.2 seconds unused
    unlock_agent.start(home, passphrase.new_lock(STRONG, FAST))
    _wait_for(lambda: unlock_agent.held_lock(home) is not None)
    path = unlock_agent.socket_path(home)
    assert path is not None
    _wait_for(lambda: not path.exists(), seconds=15)
    assert unlock_agent.held_lock(home) is None


def test_no_agent_is_started_when_unlocking_is_turned_off(
    runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("TEND_UNLOCK_MINUTES", "0")
    unlock_agent.start(home, passphrase.new_lock(STRONG, FAST))
    time.sleep(0.5)
    assert unlock_agent.held_lock(home) is None
    assert list(runtime.rglob("*.sock")) == []


def test_no_agent_is_used_in_a_directory_other_users_could_reach(
    runtime: Path, tmp_path: Path
) -> None:
    # If the agent's directory can be entered by others, a key handed to it could be taken or a
    # fake agent could answer: tend asks for the passphrase instead.
    (runtime / "tend").mkdir(mode=0o700)
    (runtime / "tend").chmod(0o755)
    home = tmp_path / "home"
    assert unlock_agent.socket_path(home) is None
    unlock_agent.start(home, passphrase.new_lock(STRONG, FAST))
    time.sleep(0.5)
    assert unlock_agent.held_lock(home) is None
    assert list(runtime.rglob("*.sock")) == []


def test_a_fake_agent_cannot_hand_over_a_lock_that_opens_nothing(
    runtime: Path, tmp_path: Path
) -> None:
    # Whatever answers on the socket, a lock only counts if it opens the device file.
    home = tmp_path / "home"
    home.mkdir()
    device_file = home / keystore.FILE_NAME
    from tests.test_keys import _device

    keystore.save(device_file, _device(), passphrase.new_lock(STRONG, FAST))
    unlock_agent.start(home, passphrase.new_lock(STRONG, FAST))  # another salt, another key
    _wait_for(lambda: unlock_agent.held_lock(home) is not None)
    from tend.cli.unlock import open_lock

    assert open_lock(home) is None  # no terminal here: the stranger's lock is not used


# --- the real command on a real terminal ----------------------------------------------------------


def _spawn(home: Path, runtime: Path, *args: str) -> pexpect.spawn[str]:
    env = tend_env({"XDG_RUNTIME_DIR": str(runtime), "COLUMNS": "100"})
    child = pexpect.spawn(
        tend_executable(),
        ["--home", str(home), *args],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 100),
    )
    return child


def _finish(child: pexpect.spawn[str]) -> str:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "Traceback" not in str(child.before)
    return str(child.before)


def test_a_passphrase_is_typed_once_a_session_and_lock_makes_it_asked_again(
    runtime: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    cli = TendCLI(home)
    child = _spawn(home, runtime, "init", "--name", "Xan", "--passphrase")
    child.expect("Choose a passphrase")
    child.sendline("password1234")
    child.expect("Repeat for confirmation")
    child.sendline("password1234")
    child.expect("easy to guess")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert not (home / keystore.FILE_NAME).exists()  # a refused passphrase makes no journal

    child = _spawn(home, runtime, "init", "--name", "Xan", "--passphrase")
    child.expect("Choose a passphrase")
    child.sendline(STRONG)
    child.expect("Repeat for confirmation")
    child.sendline(STRONG)
    child.expect(r"Show your recovery phrase now\?")
    child.sendline("n")
    assert "tend recovery show" in _finish(child)

    # Unlocked for this session: commands without a terminal need nothing more ...
    cli.ok("checkin", "--day", "rest", "--note", "held by the agent")
    cli.ok("private-default", "checkin")  # re-saves the device file with the same key
    assert cli.json("today")["people"][0]["checkin"]["fields"]["note"] == "held by the agent"

    # ... until `tend lock`, after which the passphrase is asked for again, once.
    assert "Locked" in cli.ok("lock")
    refused = cli("today")
    assert refused.returncode == 1
    assert "locked with a passphrase" in refused.stderr
    child = _spawn(home, runtime, "private-default")
    child.expect("Passphrase")
    child.sendline(STRONG)
    assert "checkin" in _finish(child)  # the setting survived, under the same passphrase
    assert cli.json("today")["people"][0]["checkin"]["fields"]["note"] == "held by the agent"


def test_a_wrong_passphrase_on_a_terminal_is_said_in_one_line_and_not_remembered(
    runtime: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    cli = TendCLI(home)
    cli.ok("init", "--name", "Xan", "--passphrase", env={"TEND_PASSPHRASE": STRONG})
    assert unlock_agent.held_lock(home) is None  # a script's passphrase starts no agent
    child = _spawn(home, runtime, "today")
    child.expect("Passphrase")
    child.sendline(STRONG + "!")
    child.expect("that passphrase does not open this journal")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert unlock_agent.held_lock(home) is None
    assert cli("today").returncode == 1


def test_a_weak_passphrase_from_a_script_is_refused_too(tmp_path: Path) -> None:
    cli = TendCLI(tmp_path / "home")
    result = cli("init", "--name", "Xan", "--passphrase", env={"TEND_PASSPHRASE": "xan12345"})
    assert result.returncode == 1
    assert "at least 12 characters" in result.stderr
    assert not (tmp_path / "home" / keystore.FILE_NAME).exists()

"""A plain http:// relay on another machine is refused before any name is looked up.

The `tend` command runs in a subprocess under an audit hook (sys.addaudithook) that writes
down every socket.getaddrinfo and socket.connect the process makes, so "no connection was
tried" is read off the interpreter itself rather than inferred from the error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tend.sync.clear_text import refuse_clear_text
from tests.conftest import TendCLI, tend_env

pytestmark = pytest.mark.slow  # the real command in subprocesses

FAR = "http://relay.invalid:8765"  # .invalid never resolves (RFC 6761)

AUDITED = """
import json, sys
seen = []
def hook(event, args):
    if event in ("socket.getaddrinfo", "socket.connect"):
        seen.append([event, str(args[0])])
sys.addaudithook(hook)
from tend.cli.main import main
code = main(sys.argv[2:])
open(sys.argv[1], "w").write(json.dumps(seen))
sys.exit(code)
"""


def audited(home: Path, record: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", AUDITED, str(record), "--home", str(home), *args]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env=tend_env(), check=False
    )


@pytest.fixture
def home(tend: TendCLI) -> Path:
    tend.ok("init", "--name", "Sam")
    return tend.home


@pytest.mark.parametrize(
    "args",
    [
        ("sync", "--relay", FAR),
        ("invite", "--relay", FAR, "--wait", "10"),
        ("doctor", "--relay", FAR),
        ("join", "417-spider-vibrant-current@" + FAR, "--name", "Alex"),
    ],
    ids=["sync", "invite", "doctor", "join"],
)
def test_plain_http_to_another_machine_is_refused_in_one_line_before_any_lookup(
    home: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    record = tmp_path / "sockets.json"
    joining = args[0] == "join"  # a device joining has no journal yet
    result = audited(tmp_path / "new" if joining else home, record, *args)
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "without TLS" in line and "in clear" in line and "https://" in line, line
    assert "--insecure" in line
    assert json.loads(record.read_text()) == []  # not even a name looked up


def test_with_insecure_the_same_address_is_tried(home: Path, tmp_path: Path) -> None:
    record = tmp_path / "sockets.json"
    result = audited(home, record, "--insecure", "sync", "--relay", FAR)
    assert result.returncode == 1
    assert "cannot reach the relay" in result.stderr, result.stderr
    lookups = [args for event, args in json.loads(record.read_text()) if "getaddrinfo" in event]
    assert lookups and all(host == "relay.invalid" for host in lookups)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765",
        "http://127.9.9.9:1",
        "http://localhost:8765",
        "http://[::1]:8765",
        "ws://localhost/v1/sync",
        "https://relay.example",
        "wss://relay.example/v1/sync",
    ],
)
def test_loopback_and_tls_addresses_pass(url: str) -> None:
    refuse_clear_text(url)


@pytest.mark.parametrize(
    "url", ["http://relay.example", "ws://192.0.2.1/v1/sync", "HTTP://10.0.0.1", "http://[fe80::1]"]
)
def test_plain_addresses_beyond_loopback_are_refused(url: str) -> None:
    with pytest.raises(Exception, match="without TLS"):
        refuse_clear_text(url)

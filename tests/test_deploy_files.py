"""deploy/: the systemd unit passes systemd-analyze verify, and the container image builds,
runs with a read-only root and a volume as a user, answers /healthz and carries a pairing and a
sync (each where the machine has the tool: skipped, saying which, where not). Where the default
base image cannot be pulled, TEND_TEST_DOCKER_BASE names one with Python and pip to build on."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import Relay, TendCLI, pair, tend_executable

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "tend-relay.service"
DEFAULT_BASE = "python:3.12-slim"  # the Dockerfile's PYTHON_IMAGE unless given another


def docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    return done.returncode == 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    # The unit names tend where the deployment guide installs it; verify checks that the
    # command exists, so the copy checked here names this environment's tend instead.
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/tend/bin/tend", tend_executable()))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and tmp_path.name not in done.stderr, done.stderr
    for hardening in ("DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes"):
        assert hardening in UNIT.read_text()


@pytest.mark.slow
@pytest.mark.skipif(not docker_works(), reason="no usable docker daemon (docker info fails)")
def test_the_image_runs_read_only_as_a_user_answers_healthz_and_carries_a_sync(
    tmp_path: Path,
) -> None:
    tag = f"tend-relay-test:{uuid.uuid4().hex[:8]}"
    name = f"tend-relay-test-{uuid.uuid4().hex[:8]}"
    docker = ["docker"]
    _skip_unless_the_base_is_at_hand()
    build = [*docker, "build", "-q", "-f", str(ROOT / "deploy" / "Dockerfile"), "-t", tag]
    build += _base_image_argument()
    subprocess.run([*build, str(ROOT)], check=True, capture_output=True, timeout=900)
    contained = Relay(tmp_path)  # not started here: its address is the container's port
    run = [*docker, "run", "-d", "--rm", "--name", name, "--read-only", "-v", f"{name}:/data"]
    run += ["--health-interval=1s", "-p", f"127.0.0.1:{contained.port}:8765", tag]
    try:
        subprocess.run(run, check=True, capture_output=True, timeout=120)
        assert _healthy(name) and _healthz(contained.port) == "ok"
        user = subprocess.run(
            [*docker, "exec", name, "id", "-u"], capture_output=True, text=True, check=True
        )
        assert user.stdout.strip() != "0"
        _pair_and_sync_through(contained, tmp_path)
    finally:
        subprocess.run([*docker, "rm", "-f", name], capture_output=True, check=False)
        subprocess.run([*docker, "volume", "rm", name], capture_output=True, check=False)
        subprocess.run([*docker, "rmi", tag], capture_output=True, check=False)


def _pair_and_sync_through(relay: Relay, tmp_path: Path) -> None:
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    pair(sam, alex, relay)
    sam.ok("gratitude", "for the tea, through the container")
    sam.ok("sync")
    alex.ok("sync")
    texts = [e["fields"].get("text") for e in alex.json("timeline")["events"]]
    assert "for the tea, through the container" in texts


def _skip_unless_the_base_is_at_hand() -> None:
    base = os.environ.get("TEND_TEST_DOCKER_BASE", DEFAULT_BASE)
    for look in (["image", "inspect", base], ["pull", "-q", base]):
        if subprocess.run(["docker", *look], capture_output=True, timeout=300).returncode == 0:
            return
    pytest.skip(f"the base image {base} is not here and cannot be pulled")


def _base_image_argument() -> list[str]:
    # Where the default base cannot be pulled (no registry reachable), another image with
    # Python and pip can stand in for it, named as an operator would name a mirror's copy.
    base = os.environ.get("TEND_TEST_DOCKER_BASE")
    return ["--build-arg", f"PYTHON_IMAGE={base}"] if base else []


def _healthy(name: str) -> bool:
    inspect = ["docker", "inspect", "--format", "{{.State.Health.Status}}", name]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = subprocess.run(inspect, capture_output=True, text=True, check=False)
        if status.stdout.strip() == "healthy":
            return True
        time.sleep(1)
    return False


def _healthz(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
        return str(answer.read().decode())


def test_the_tests_default_base_is_the_dockerfiles() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert f"\nARG PYTHON_IMAGE={DEFAULT_BASE}\n" in dockerfile

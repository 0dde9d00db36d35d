"""A relay behind nginx, configured by deploy/nginx-tend-relay.conf: TLS at nginx with a
certificate from an authority made here, websockets upgraded, X-Forwarded-For appended; a
real pairing and sync through it, and the relay counting the client, not the proxy.

nginx reaches the relay from 127.0.0.3 (proxy_bind, added for the test), the only trusted
proxy, while clients reach nginx from 127.0.0.1: so a log line naming 127.0.0.1 as the peer
shows the relay took the forwarded address, and one naming 203.0.113.9 would show it believed
a forged header. Skipped when nginx is not installed (.ci/run installs it)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Relay, TendCLI, free_port, pair
from tests.tls_certs import Authority, make_authority

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed"),
]

ROOT = Path(__file__).resolve().parent.parent
PROXY = "127.0.0.3"  # where nginx connects to the relay from
FORGED = "203.0.113.9"
BOX = "ab" * 16


def nginx_conf(tmp: Path, port: int, relay_port: int, authority: Authority) -> Path:
    served = authority.issue(tmp, stem="nginx")
    site = (ROOT / "deploy" / "nginx-tend-relay.conf").read_text()
    for old, new in [
        ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        ("listen [::]:443 ssl;", ""),
        ("/etc/letsencrypt/live/relay.example.org/fullchain.pem", str(served.cert)),
        ("/etc/letsencrypt/live/relay.example.org/privkey.pem", str(served.key)),
        ("proxy_pass http://127.0.0.1:8765;", f"proxy_pass http://127.0.0.1:{relay_port};"),
        ("proxy_http_version 1.1;", f"proxy_http_version 1.1; proxy_bind {PROXY};"),
    ]:
        assert old in site, old
        site = site.replace(old, new)
    temp = "".join(
        f"{kind}_temp_path {tmp / kind};\n" for kind in ("client_body", "proxy", "fastcgi")
    ) + "".join(f"{kind}_temp_path {tmp / kind};\n" for kind in ("uwsgi", "scgi"))
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers may read the test's files
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'};\n"
        "events { worker_connections 64; }\n"
        f"http {{\n{temp}{site}\n}}\n"
    )
    return conf


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return make_authority(tmp_path)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    folder = tmp_path / "relay"
    folder.mkdir()
    running = Relay(folder, "--trusted-proxy", PROXY, "--log-addresses", split_log=True)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def nginx(tmp_path: Path, relay: Relay, authority: Authority) -> Iterator[str]:
    folder = tmp_path / "nginx"
    folder.mkdir()
    port = free_port()
    conf = nginx_conf(folder, port, relay.port, authority)
    proc = subprocess.Popen(
        ["nginx", "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(port, proc)
        yield f"https://localhost:{port}"
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then the master exits
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"nginx exited: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start")


def peers(relay: Relay, event: str) -> list[object]:
    lines = [json.loads(line) for line in relay.err.read_text().splitlines() if line.strip()]
    return [line.get("peer") for line in lines if line["event"] == event]


def post_mailbox(url: str, forged: str, authority: Authority | None = None) -> int:
    context = ssl.create_default_context(cafile=str(authority.cert)) if authority else None
    request = urllib.request.Request(f"{url}/v1/mailbox/{BOX}?ttl=5", data=b"x", method="POST")
    request.add_header("X-Forwarded-For", forged)
    with urllib.request.urlopen(request, timeout=10, context=context) as answer:
        return int(answer.status)


def test_two_devices_sync_through_nginx_and_the_relay_counts_the_client_not_the_proxy(
    tmp_path: Path, relay: Relay, nginx: str, authority: Authority
) -> None:
    trust = {"SSL_CERT_FILE": str(authority.cert)}
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", nginx)
    relay.url = nginx  # pairing goes through nginx too
    pair(sam, alex, relay, env=trust)
    sam.ok("gratitude", "for the tea, through the proxy")
    sam.ok("sync", env=trust)
    alex.ok("sync", env=trust)
    texts = [e["fields"].get("text") for e in alex.json("timeline")["events"]]
    assert "for the tea, through the proxy" in texts
    seen = peers(relay, "session.ended") + peers(relay, "mailbox.posted")
    assert seen and set(seen) == {"127.0.0.1"}  # the forwarded client; never 127.0.0.3


def test_a_forged_forwarded_header_is_ignored_through_the_proxy_and_from_anyone_else(
    relay: Relay, nginx: str, authority: Authority
) -> None:
    assert post_mailbox(nginx, FORGED, authority) == 204  # nginx appends the real client
    assert post_mailbox(f"http://127.0.0.1:{relay.port}", FORGED) == 204  # not a trusted proxy
    relay.stop()
    assert peers(relay, "mailbox.posted") == ["127.0.0.1", "127.0.0.1"]

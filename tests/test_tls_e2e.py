"""TLS end to end: a relay terminating TLS with a certificate from an authority made here, the
real `tend` command trusting it through SSL_CERT_FILE, and refusing what it does not trust."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import pytest

from tests.conftest import Relay, TendCLI, pair
from tests.tls_certs import Authority, ServerFiles, make_authority

pytestmark = pytest.mark.slow  # relay processes and the real command


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return make_authority(tmp_path)


@pytest.fixture
def served(tmp_path: Path, authority: Authority) -> ServerFiles:
    return authority.issue(tmp_path)


@pytest.fixture
def tls_relay(tmp_path: Path, served: ServerFiles) -> object:
    folder = tmp_path / "relay"
    folder.mkdir()
    running = Relay(
        folder,
        "--tls-cert",
        str(served.cert),
        "--tls-key",
        str(served.key),
        scheme="https",
        split_log=True,
    )
    running.start()
    yield running
    running.stop()


def test_two_devices_pair_and_sync_through_a_relay_terminating_tls(
    tmp_path: Path, tls_relay: Relay, authority: Authority
) -> None:
    trust = {"SSL_CERT_FILE": str(authority.cert)}
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", tls_relay.url)
    pair(sam, alex, tls_relay, env=trust)
    sam.ok("gratitude", "for the soup over TLS")
    sam.ok("sync", env=trust)
    alex.ok("sync", env=trust)
    texts = [e["fields"].get("text") for e in alex.json("timeline")["events"]]
    assert "for the soup over TLS" in texts
    assert "listening on https://" in tls_relay.log.read_text()


def test_a_certificate_from_an_authority_the_device_does_not_trust_is_refused_in_one_line(
    tmp_path: Path, tls_relay: Relay
) -> None:
    sam = TendCLI(tmp_path / "sam")
    sam.ok("init", "--name", "Sam", "--relay", tls_relay.url)
    other = make_authority(tmp_path, "other")  # trusting some authority, not the relay's
    result = sam("sync", env={"SSL_CERT_FILE": str(other.cert)})
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line
    assert "does not trust" in line and "SSL_CERT_FILE" in line, line


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_the_relay_speaks_no_tls_older_than_1_2(tls_relay: Relay, authority: Authority) -> None:
    context = ssl.create_default_context(cafile=str(authority.cert))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", tls_relay.port)) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(str(authority.cert))
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with (
        socket.create_connection(("127.0.0.1", tls_relay.port)) as raw,
        pytest.raises(ssl.SSLError),
    ):
        old.wrap_socket(raw, server_hostname="localhost")


def _log_lines(relay: Relay) -> list[dict[str, object]]:
    return [json.loads(line) for line in relay.err.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("with_tls", [False, True])
def test_a_relay_beyond_loopback_warns_in_one_line_unless_it_terminates_tls(
    tmp_path: Path, served: ServerFiles, with_tls: bool
) -> None:
    tls = ("--tls-cert", str(served.cert), "--tls-key", str(served.key)) if with_tls else ()
    relay = Relay(tmp_path, *tls, host="0.0.0.0", split_log=True)
    relay.start()
    relay.stop()
    warnings = [line for line in _log_lines(relay) if line["event"] == "relay.without_tls"]
    if with_tls:
        assert warnings == []
    else:
        assert len(warnings) == 1 and "proxy" in str(warnings[0]["note"])

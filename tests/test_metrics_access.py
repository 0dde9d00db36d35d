"""/metrics answers the relay's own machine (the socket's peer on loopback, never a forwarded
header, never a trusted proxy), or a request with the operator's bearer token.

"Not loopback" is a real one: the relay listens on every address and the request goes to
this machine's address beyond loopback, so the relay's socket sees that address as its peer
(skipped, with the reason, on a machine with only loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Relay
from tests.deploy_helpers import get, outside_address, source_address_towards

pytestmark = pytest.mark.slow  # relay processes

TOKEN = "s3cret-metrics-token"


def started(folder: Path, *args: str, token: str | None = None) -> Relay:
    folder.mkdir()
    env = {"TEND_RELAY_METRICS_TOKEN": token} if token else None
    relay = Relay(folder, *args, host="0.0.0.0", env=env, split_log=True)
    relay.start()
    return relay


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    running = started(tmp_path / "relay", token=TOKEN)
    yield running
    running.stop()


def test_loopback_reads_metrics_without_a_token(relay: Relay) -> None:
    status, body = get("127.0.0.1", relay.port, "/metrics")
    assert status == 200 and "tend_relay_connections" in body


def test_from_beyond_loopback_metrics_need_the_token_and_a_forged_header_does_not_help(
    relay: Relay,
) -> None:
    outside = outside_address()
    assert source_address_towards(outside, relay.port) == outside  # the peer is not loopback
    assert get(outside, relay.port, "/metrics")[0] == 403
    assert get(outside, relay.port, "/metrics", {"Authorization": "Bearer wrong"})[0] == 403
    forged = {"X-Forwarded-For": "127.0.0.1", "Forwarded": "for=127.0.0.1"}
    assert get(outside, relay.port, "/metrics", forged)[0] == 403
    status, body = get(outside, relay.port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and "tend_relay_errors_total" in body
    assert get(outside, relay.port, "/healthz")[0] == 200  # the health check stays open


def test_without_a_token_set_no_bearer_opens_metrics_beyond_loopback(tmp_path: Path) -> None:
    relay = started(tmp_path / "relay")
    try:
        outside = outside_address()
        assert get(outside, relay.port, "/metrics", {"Authorization": "Bearer "})[0] == 403
        assert get("127.0.0.1", relay.port, "/metrics")[0] == 200
    finally:
        relay.stop()


def test_a_trusted_proxy_on_loopback_passes_others_along_so_it_needs_the_token(
    tmp_path: Path,
) -> None:
    relay = started(tmp_path / "relay", "--trusted-proxy", "127.0.0.1", token=TOKEN)
    try:
        assert get("127.0.0.1", relay.port, "/metrics")[0] == 403
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert get("127.0.0.1", relay.port, "/metrics", headers)[0] == 200
    finally:
        relay.stop()

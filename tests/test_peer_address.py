"""peer_address through a real relay process: a forwarded header is believed only from a
trusted proxy, and the address taken is the right-most one that is not a trusted proxy."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tend.sync.relay.peer import network
from tests.conftest import Relay

pytestmark = pytest.mark.slow  # relay processes

BOX = "cd" * 16


def peer_seen(tmp_path: Path, headers: dict[str, str], *flags: str) -> object:
    relay = Relay(tmp_path, "--log-addresses", *flags, split_log=True)
    relay.start()
    try:
        request = urllib.request.Request(
            f"{relay.url}/v1/mailbox/{BOX}?ttl=5", data=b"x", method="POST", headers=headers
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 204
    finally:
        relay.stop()
    lines = [json.loads(line) for line in relay.err.read_text().splitlines()]
    (peer,) = [line["peer"] for line in lines if line["event"] == "mailbox.posted"]
    return peer


def test_the_right_most_address_that_is_not_a_trusted_proxy_is_the_client(tmp_path: Path) -> None:
    headers = {"X-Forwarded-For": "198.51.100.1, 198.51.100.7, 10.0.0.5"}
    trusted = ("--trusted-proxy", "127.0.0.1", "--trusted-proxy", "10.0.0.0/8")
    assert peer_seen(tmp_path, headers, *trusted) == "198.51.100.7"


def test_rfc_7239_forwarded_is_read_when_the_operator_names_it(tmp_path: Path) -> None:
    headers = {"Forwarded": 'for=198.51.100.7;proto=https, for="[2001:db8::1]:4711"'}
    flags = ("--trusted-proxy", "127.0.0.1", "--forwarded-header", "forwarded")
    assert peer_seen(tmp_path, headers, *flags) == "2001:db8::1"


def test_without_trusted_proxies_a_forwarded_header_is_ignored(tmp_path: Path) -> None:
    assert peer_seen(tmp_path, {"X-Forwarded-For": "198.51.100.7"}) == "127.0.0.1"


def test_a_wider_network_is_an_ipv6_48_and_an_ipv4_address_alone() -> None:
    assert network("2001:db8:77:ffff::1") == "2001:db8:77::/48"
    assert network("2001:db8:77:1::1") == network("2001:db8:77:2::9")
    assert network("2001:db8:78::1") != network("2001:db8:77::1")
    assert network("198.51.100.7") == "198.51.100.7" != network("198.51.100.8")
    assert network("unknown") == "unknown"

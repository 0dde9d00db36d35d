"""What the deployment tests share: this machine's address beyond loopback, and plain HTTP
requests to a relay from a chosen address with chosen headers (urllib, nothing of tend's)."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import subprocess
from collections.abc import Mapping

import pytest


def outside_address() -> str:
    """An IPv4 address of this machine that is not loopback (skip when it has none)."""
    try:
        words = subprocess.run(
            ["hostname", "-I"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        words = []
    for word in words:
        address = ipaddress.ip_address(word)
        if address.version == 4 and not address.is_loopback:
            return word
    pytest.skip("this machine has no IPv4 address beyond loopback (hostname -I shows none)")


def get(
    host: str, port: int, path: str, headers: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """GET `path` from host:port; the socket's source address is the one the route picks,
    which for an address of this machine is that address itself."""
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request("GET", path, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def source_address_towards(host: str, port: int) -> str:
    """The source address this machine uses to reach host:port."""
    with socket.create_connection((host, port), timeout=5) as s:
        source: str = s.getsockname()[0]
        return source

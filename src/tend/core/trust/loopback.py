"""Whether a host name is this machine: the one test of an address that both pairing (which
scheme a relay address gets) and the clear-text rule (sync/clear_text.py) ask. A module of its
own so that the rule, checked by every `tend sync`, loads none of the pairing code."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """True for "localhost", 127.0.0.0/8 and ::1 (with or without brackets): this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

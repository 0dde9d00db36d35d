"""Who is on the other end of a request, as far as per-address limits are concerned.

Every per-address limit (connections, space creation, mailbox budgets) asks this one function,
so that a relay behind a reverse proxy counts the proxy's clients, not the proxy.

A forwarded header is believed only from a configured proxy (RelayConfig.trusted_proxies):
anyone can send one. Each proxy appends the address it was reached from, so the chain reads
client, proxy, proxy, ..., and the socket's peer last; walking it from the right, the first
address that is not a trusted proxy is the one no client could have forged.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED_HEADERS = ("x-forwarded-for", "forwarded")
UNKNOWN = "unknown"


def peer_address(request: web.Request) -> str:
    """The address a request came from: the socket's peer, or, when that is a trusted proxy,
    the right-most address in its forwarded header that is not one ("unknown" for none)."""
    # Imported here: app_keys imports the session, which asks this module for addresses.
    from tend.sync.relay.app_keys import CONFIG

    socket_peer = normal_address(request.remote or "")
    config = request.app[CONFIG]
    if not config.trusted_proxies:
        return socket_peer
    chain = [*forwarded_chain(request, config.forwarded_header), socket_peer]
    networks = proxy_networks(config.trusted_proxies)
    for address in reversed(chain):
        if not is_trusted(address, networks):
            return address
    return chain[0]  # proxies all the way down: the farthest one named


# An IPv6 client is one of the 2**64 addresses of its /64: the prefix an ISP gives one household
# (or one VM), all of which one machine can use at once. Per-address bounds count the /64.
IPV6_HOUSEHOLD = 64


def peer_household(request: web.Request) -> str:
    """What the per-address bounds count for a request: the peer's address, or for IPv6 its
    /64 (so one machine cannot take a share per address of its prefix)."""
    return household(peer_address(request))


def household(address: str) -> str:
    """An address as the per-address bounds count it: IPv4 as it is, IPv6 as its /64."""
    return _ipv6_prefix(address, IPV6_HOUSEHOLD)


def _ipv6_prefix(address: str, bits: int) -> str:
    """An IPv6 address as its /`bits`; IPv4 as it is, and "unknown" too (one bucket for
    everything unnamed)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv4Address):
        return address
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


# One wider network counts the households of one holder: for IPv6 a /48, which a tunnel broker
# hands anyone for free (65,536 /64s) and an ISP often gives one site. IPv4 is not widened:
# addresses cost money one by one, while a /24 is often a carrier-grade NAT pool or a shared
# office, thousands of unrelated households whom one budget would turn away together.
IPV6_NETWORK = 48


def peer_network(request: web.Request) -> str:
    """The wider network a request's household is in, as `network` counts it."""
    return network(peer_address(request))


def network(address: str) -> str:
    """The wider network an address's household is in: IPv6 as its /48, IPv4 (and "unknown")
    as its household, one address."""
    return _ipv6_prefix(address, IPV6_NETWORK)


def counted_as(household: str, network: str) -> tuple[str, ...]:
    """The names a bound counts a client under: its household, and its network when that is
    wider (an IPv4 network is its household, counted once)."""
    return (household,) if network == household else (household, network)


def forwarded_chain(request: web.Request, header: str) -> list[str]:
    """The addresses a forwarded header names, left (farthest) to right (nearest)."""
    values = ",".join(request.headers.getall(header, []))
    items = [item.strip() for item in values.split(",") if item.strip()]
    if header == "forwarded":
        items = [_forwarded_for(item) for item in items]
    return [normal_address(item) for item in items]


def _forwarded_for(element: str) -> str:
    """The for= of one RFC 7239 element (`for=192.0.2.1;proto=https`), "" if none."""
    for pair in element.split(";"):
        name, _, value = pair.partition("=")
        if name.strip().lower() == "for":
            return value.strip().strip('"')
    return ""


def normal_address(text: str) -> str:
    """An IP address as one spelling (ports, brackets and IPv4-mapped IPv6 taken off), or
    "unknown" for anything that is not one (an obfuscated Forwarded name, junk)."""
    text = text.strip()
    if text.startswith("["):  # [v6] or [v6]:port
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def is_loopback(address: str) -> bool:
    """A normal address (normal_address's) on this machine: 127.0.0.0/8 or ::1."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def is_trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


@functools.lru_cache(maxsize=8)
def proxy_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    """The trusted proxies as networks (an address is a network of one); ValueError names
    the first that is neither."""
    networks: list[Network] = []
    for proxy in proxies:
        try:
            networks.append(ipaddress.ip_network(proxy.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{proxy!r} is not an IP address or network") from None
    return tuple(networks)

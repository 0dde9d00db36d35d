"""What one address may hold or do at once: the relay's per-address bounds.

Anyone can reach a relay on the open internet, before proving anything. These counters keep
one address (as peer.peer_household counts it: an IPv6 client by its /64) from taking what
every other address needs: connection slots, HTTP requests in progress, waiting mailbox reads,
mailbox posts, invitation posts and escrow writes. Each forgets an address as soon as it holds
nothing, so the bookkeeping is bounded by what is open, not by who ever came.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tend.sync.relay.config import RelayConfig


class AddressCounts:
    """How many of something (open websockets, waiting reads) each address holds now."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._held: dict[str, int] = {}

    def take(self, address: str) -> bool:
        """One more for `address`, if it holds fewer than the cap; False (nothing taken) if not."""
        held = self._held.get(address, 0)
        if held >= self.cap:
            return False
        self._held[address] = held + 1
        return True

    def give_back(self, address: str) -> None:
        held = self._held.get(address, 0) - 1
        if held > 0:
            self._held[address] = held
        else:
            self._held.pop(address, None)

    def __len__(self) -> int:
        return len(self._held)

    def total(self) -> int:
        """How many are held now, by every address together."""
        return sum(self._held.values())


class Rate:
    """A token bucket per address: `per_minute` actions a minute, in bursts of as many."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)
        self._swept = clock()

    def allow(self, address: str) -> bool:
        """Spend one token of `address`'s bucket; False if it is empty."""
        now = self._clock()
        tokens = self._tokens(address, now)
        if tokens < 1:
            return False
        self._buckets[address] = (tokens - 1, now)
        self._forget_full(now)
        return True

    def _tokens(self, address: str, now: float) -> float:
        tokens, at = self._buckets.get(address, (float(self.per_minute), now))
        return min(float(self.per_minute), tokens + (now - at) * self.per_minute / 60)

    def _forget_full(self, now: float) -> None:
        # A full bucket is the same as none. Every bucket refills within a minute, so a sweep
        # a minute keeps the table to the addresses of the last two.
        if now - self._swept < 60:
            return
        self._swept = now
        for address in list(self._buckets):
            if self._tokens(address, now) >= self.per_minute:
                del self._buckets[address]


@dataclass
class PeerLimits:
    """The relay's per-address bounds, built from its config."""

    config: RelayConfig
    connections: AddressCounts = field(init=False)
    network_connections: AddressCounts = field(init=False)
    connection_opens: Rate = field(init=False)
    network_connection_opens: Rate = field(init=False)
    requests: AddressCounts = field(init=False)
    mailbox_waits: AddressCounts = field(init=False)
    mailbox_posts: Rate = field(init=False)
    mailbox_reads: Rate = field(init=False)
    invitation_posts: Rate = field(init=False)
    escrow_puts: Rate = field(init=False)

    def __post_init__(self) -> None:
        self.connections = AddressCounts(self.config.connections_per_address)
        self.network_connections = AddressCounts(self.config.connections_per_network)
        self.connection_opens = Rate(self.config.connection_opens_per_minute)
        self.network_connection_opens = Rate(4 * self.config.connection_opens_per_minute)
        # Every HTTP request but the sync websocket's (counted above, for as long as it is
        # open): long polls and slow bodies would otherwise be held by the thousand.
        self.requests = AddressCounts(self.config.http_requests_per_address)
        self.mailbox_waits = AddressCounts(self.config.mailbox_waits_per_address)
        self.mailbox_posts = Rate(self.config.mailbox_posts_per_minute)
        # Reads too: a read that does not wait costs nothing to repeat, and 999 nameplates'
        # first mailboxes are public, so one address could sweep every short-code pairing.
        self.mailbox_reads = Rate(self.config.mailbox_reads_per_minute)
        # A person leaves one invitation per link and one escrow per sync that changed it.
        self.invitation_posts = Rate(self.config.invitation_posts_per_minute)
        self.escrow_puts = Rate(self.config.escrow_puts_per_minute)

"""What the relay holds in memory for devices that have not taken it yet, by who they are.

Theory of operation
-------------------
A session bounds what it queues for its own device (session.py: it reads no further request
past PACE_BYTES, catch-up waits there too, and live entries past MAX_BACKLOG_BYTES cut it off).
But one address may hold 32 sessions and one IPv6 /48 as many for each of its /64s: sessions
that never read would together hold hundreds of MiB (a review held 633 MB from one address).
So every byte a session queues, and every catch-up page it holds, also counts toward its
household (peer.household) and its wider network (peer.network). When one of them holds more
than its budget, the session of theirs whose device has waited longest without taking a frame
is cut off: it is told to reconnect, and resumes from its vector, nothing lost. Their other
sessions, and everyone else's, keep their room: a household that reads is never cut off for
one that does not. Many households together (a crowd of addresses, or many /48s) are held to
a budget for the whole relay: past it, the stalest session of all is cut off.

The budgets are far above what an honest household holds: a device reading its catch-up holds
at most about PACE_BYTES and one page, a few MiB, and a live device almost nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from tend.sync.relay.tally import Tally

HOUSEHOLD_BYTES = 24 << 20  # queued for the devices of one household together
NETWORK_BYTES = 4 * HOUSEHOLD_BYTES  # and for all the households of one network
RELAY_BYTES = NETWORK_BYTES  # and for everyone


class Holder(Protocol):
    """A session, as far as the accounting is concerned."""

    @property
    def owners(self) -> tuple[str, ...]:
        """The household and network it counts toward (one name when they are the same)."""
        ...

    @property
    def queued_bytes(self) -> int:
        """Bytes it holds now for its device."""
        ...

    @property
    def waiting_since(self) -> float:
        """When its device last took a frame, or when something was first queued since
        (time.monotonic)."""
        ...

    def cut_off(self) -> None:
        """Drop what it holds (releasing it all) and end the session."""
        ...


class Queued:
    """The bytes held for each household and network, and who holds them."""

    def __init__(
        self,
        household: int = HOUSEHOLD_BYTES,
        network: int = NETWORK_BYTES,
        relay: int = RELAY_BYTES,
    ) -> None:
        self.household, self.network, self.relay = household, network, relay
        self._tally = Tally()
        self._holders: dict[str, set[Holder]] = {}
        self._everyone: set[Holder] = set()

    @property
    def total(self) -> int:
        return self._tally.total

    def held_by(self, owner: str) -> int:
        return self._tally.held_by(owner)

    def hold(self, holder: Holder, count: int) -> None:
        """`holder` holds `count` more bytes; past a budget, the stalest holder of that owner
        is cut off (perhaps this one)."""
        self._tally.add(holder.owners, count)
        for owner in holder.owners:
            self._holders.setdefault(owner, set()).add(holder)
        self._everyone.add(holder)
        for owner, budget in zip(holder.owners, self._budgets(holder.owners), strict=True):
            self._keep_within(owner, budget)
        while self.total > self.relay and not self._cut_stalest(self._everyone):
            pass

    def release(self, holder: Holder, count: int) -> None:
        self._tally.subtract(holder.owners, count)
        if not holder.queued_bytes:
            self._forget(holder)

    def _budgets(self, owners: tuple[str, ...]) -> Iterable[int]:
        # (household,) or (household, network): a network is wider only for IPv6.
        return (self.household, self.network)[: len(owners)]

    def _keep_within(self, owner: str, budget: int) -> None:
        while self.held_by(owner) > budget:
            if self._cut_stalest(self._holders.get(owner, set())):
                return

    @staticmethod
    def _cut_stalest(among: set[Holder]) -> bool:
        """Cut off the holder among these whose device has waited longest; True if none holds
        anything (nothing left to cut)."""
        holders = [h for h in among if h.queued_bytes]
        if not holders:
            return True
        min(holders, key=lambda h: h.waiting_since).cut_off()
        return False

    def _forget(self, holder: Holder) -> None:
        self._everyone.discard(holder)
        for owner in holder.owners:
            holders = self._holders.get(owner)
            if holders is not None:
                holders.discard(holder)
                if not holders:
                    del self._holders[owner]

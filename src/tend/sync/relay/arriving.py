"""What devices are sending the relay: large messages on their way in, by who sends them.

Theory of operation
-------------------
After Welcome a device may send a message of up to MAX_FRAME_BYTES (4 MiB), and aiohttp's
reader gathers it in memory until its last byte has come; then it waits in the socket's queue
until the session takes it. A device that announces 4 MiB and sends all of it but a byte, on
each of its connections, would hold that much of the relay's memory for as long as it keeps
the connection alive (any byte it sends counts as a sign of life). One address may hold 32
connections, and an IPv6 /48 as many for each of its /64s.

So first_frame.WholeMessages, which already reads every frame's header before aiohttp does,
counts each large message (over SMALL_MESSAGE bytes) toward its sender's household, network
and the whole relay from its header until the session takes it. A header that would take one
of them past its budget is refused: the device is told the relay is busy and to try again
later, and nothing of that message is read. Small messages (every live push, every request)
are never refused for this: a crowd holding the relay's budget with large ones delays only
other large ones (a catch-up push of a long backlog), which the device sends again later.

The budgets are far above what an honest household sends at once: a device pushing a backlog
has at most two large messages in (the one the session works on and the next, after which the
socket stops reading).
"""

from __future__ import annotations

from tend.sync.relay.tally import Tally

SMALL_MESSAGE = 64 << 10  # never counted: at most this much waits in a socket's queue anyway
HOUSEHOLD_BYTES = 16 << 20  # arriving from the devices of one household at once
NETWORK_BYTES = 4 * HOUSEHOLD_BYTES  # and from all the households of one network
RELAY_BYTES = NETWORK_BYTES  # and from everyone


class Arriving:
    """The bytes of large messages arriving from each household and network, and in all."""

    def __init__(
        self,
        household: int = HOUSEHOLD_BYTES,
        network: int = NETWORK_BYTES,
        relay: int = RELAY_BYTES,
    ) -> None:
        self.household, self.network, self.relay = household, network, relay
        self._tally = Tally()

    @property
    def total(self) -> int:
        return self._tally.total

    def held_by(self, owner: str) -> int:
        return self._tally.held_by(owner)

    def take(self, owners: tuple[str, ...], count: int) -> bool:
        """Count `count` more bytes for `owners` (a household, and its network when wider), if
        that keeps each of them and the relay within budget; False, counting nothing, if not."""
        if self.total + count > self.relay:
            return False
        budgets = (self.household, self.network)[: len(owners)]
        for owner, budget in zip(owners, budgets, strict=True):
            if self.held_by(owner) + count > budget:
                return False
        self._tally.add(owners, count)
        return True

    def give_back(self, owners: tuple[str, ...], count: int) -> None:
        self._tally.subtract(owners, count)

"""Pairing mailboxes: small single-use message queues, in memory only.

Two devices that are pairing exchange a few sealed messages through these before the joiner is
a member (the HTTP routes are pairing_routes.py). A restart empties them, which only means a
pairing must start over. Everything is bounded: messages per mailbox, mailboxes, the bytes
waiting in all of them, and what one address has waiting (each message counts its length plus
MESSAGE_COST, so that many small messages weigh too); a message expires after its ttl, and its
mailbox with it. A reader waiting on an empty mailbox is not a mailbox: it is kept apart, only
while it waits (the routes bound how many one address may have), so reads cannot fill the
relay's mailboxes.

Claims, and why nobody can squat a nameplate. A short code's first mailbox (A1) is one of 999,
named by the code's public nameplate; the inviter posts there with `claim`, and picks another
nameplate if it is taken. What makes a mailbox taken is only a claimed message in it: a message
posted with `claim` by an address, which holds at most `claims_per_address` of them at once.
So:

- A waiting reader never makes a claim fail. And a claim does not feed the readers that were
  waiting before it: they are answered "no message" at once. No honest device waits there
  first (a joiner learns the code only once its first message is posted), so those readers
  are strangers watching nameplates to take the first message, or a joiner holding an old
  code, whose answer would spend the new invitation's one guess.
- An unclaimed message never makes a claim fail either: a claim drops what was posted there
  without one (no honest device posts to a first mailbox without claiming it).
- So keeping every nameplate taken means holding 999 claims: 999 / `claims_per_address`
  addresses (250 by default), each counted as peer.peer_household counts it. The households of
  one wider network (peer.network: an IPv6 /48, which anyone can have for free) hold at most
  `claims_per_network` together, so it also takes 999 / `claims_per_network` networks (63).

Every bound one household has, its network has too, at `HOUSEHOLDS_PER_NETWORK` times the size
(and an IPv4 network is its one address): else the 65,536 /64s of one /48 would each bring a
budget, and forty of them filled all MAX_MAILBOXES. Expired messages are swept in expiry order
(a heap), so a post costs the logarithm of what is waiting, not a walk over every mailbox.

What stays possible is taking a first message by reading it (bounded by reads a minute per
address): that costs the inviter its code (one wrong guess closes it), never its keys.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tend.core.errors import ProtocolError
from tend.sync.relay.peer import counted_as

MAILBOX_QUEUE = 4
MAX_MAILBOXES = 10_000
MAILBOX_TOTAL_BYTES = 64 << 20
# What a message weighs against its poster's budgets, beyond its bytes: the mailbox it may make
# is what MAX_MAILBOXES bounds, so a household's budget holds 64 messages at most (a pairing
# leaves two or three waiting), and filling every mailbox takes 157 households.
MESSAGE_COST = 4 << 10
DEFAULT_ADDRESS_BUDGET = 256 << 10
DEFAULT_CLAIMS_PER_ADDRESS = 4  # claimed mailboxes one address holds: invitations at once
# A network (an IPv6 /48) holds what four to eight households would: room for a site with
# several households pairing at once, while one stranger's free /48 fills a twentieth of the
# mailboxes and holds a sixty-third of the nameplates at most.
DEFAULT_NETWORK_BUDGET = 8 * DEFAULT_ADDRESS_BUDGET
DEFAULT_CLAIMS_PER_NETWORK = 4 * DEFAULT_CLAIMS_PER_ADDRESS


@dataclass(frozen=True)
class Poster:
    """Whom a message counts against: its household (peer.household) and the wider network
    that household is in (peer.network)."""

    household: str
    network: str


class MailboxFull(ProtocolError):
    """Too many messages in one mailbox, or in all of them: try again later."""


class MailboxInUse(ProtocolError):
    """A claim on a mailbox that holds a claimed message: pick another."""


@dataclass(frozen=True)
class _Message:
    expires: float
    body: bytes
    poster: Poster  # whom it counts against
    claimed: bool = False  # posted with a claim: the mailbox is taken while it waits

    @property
    def cost(self) -> int:
        return len(self.body) + MESSAGE_COST


@dataclass
class _Mailbox:
    messages: deque[_Message] = field(default_factory=deque)


@dataclass
class _Readers:
    """Those waiting on one mailbox id, woken when a message is posted there."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    count: int = 0
    turned_away: bool = False  # a claim came: these readers get no message


class Mailboxes:
    """Small single-use message queues for pairing, in memory only: a restart empties them."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        address_budget: int = DEFAULT_ADDRESS_BUDGET,
        claims_per_address: int = DEFAULT_CLAIMS_PER_ADDRESS,
        *,
        network_budget: int = DEFAULT_NETWORK_BUDGET,
        claims_per_network: int = DEFAULT_CLAIMS_PER_NETWORK,
    ) -> None:
        self._boxes: dict[str, _Mailbox] = {}
        self._readers: dict[str, _Readers] = {}
        self._clock = clock
        self._bytes = 0
        self._messages = 0  # waiting in every mailbox together
        # (expires, mailbox id) of each message posted, soonest first; some were taken since
        self._expiry: list[tuple[float, str]] = []
        # household or network -> the cost of its waiting messages, and its claimed ones
        self._spent: dict[str, int] = {}
        self._claims: dict[str, int] = {}
        self.address_budget = address_budget
        self.claims_per_address = claims_per_address
        # Never less than a household's: an IPv4 network is its one household.
        self.network_budget = max(network_budget, address_budget)
        self.claims_per_network = max(claims_per_network, claims_per_address)
        self.closing = False

    def __len__(self) -> int:
        return len(self._boxes)

    def post(
        self, box_id: str, body: bytes, ttl: float, *, claim: bool = False, poster: Poster
    ) -> None:
        """Queue a message, counted against its poster's budgets. With `claim`, only
        into a mailbox that holds no claimed message (else MailboxInUse), dropping any message
        posted there without a claim and turning away the readers waiting there."""
        self._sweep()
        box = self._boxes.get(box_id)
        if claim and box is not None and any(m.claimed for m in box.messages):
            raise MailboxInUse("that mailbox is in use; pick another")
        message = _Message(self._clock() + ttl, body, poster, claimed=claim)
        queued = 0 if box is None or claim else len(box.messages)
        self._check_room(message, new_box=box is None, queued=queued)
        if box is None:
            box = self._boxes[box_id] = _Mailbox()
        elif claim:
            self._drop(box)
        box.messages.append(message)
        self._take_room(message)
        heapq.heappush(self._expiry, (message.expires, box_id))
        self._wake(box_id, turn_away=claim)

    def _check_room(self, message: _Message, *, new_box: bool, queued: int) -> None:
        """Room for `message` in a mailbox holding `queued` messages (`new_box`: one made for
        it)."""
        household, network = message.poster.household, message.poster.network
        if self._spent.get(household, 0) + message.cost > self.address_budget:
            raise MailboxFull("this address has too much waiting in mailboxes; try again later")
        if message.claimed and self._claims.get(household, 0) >= self.claims_per_address:
            raise MailboxFull("this address holds as many claimed mailboxes as it may; try later")
        if network != household:
            if self._spent.get(network, 0) + message.cost > self.network_budget:
                raise MailboxFull("this network has too much waiting in mailboxes; try later")
            if message.claimed and self._claims.get(network, 0) >= self.claims_per_network:
                raise MailboxFull("this network holds as many claimed mailboxes as it may")
        if new_box and len(self._boxes) >= MAX_MAILBOXES:
            raise MailboxFull("too many mailboxes")
        if self._bytes + len(message.body) > MAILBOX_TOTAL_BYTES:
            raise MailboxFull("too many bytes waiting in mailboxes")
        if queued >= MAILBOX_QUEUE:
            raise MailboxFull(f"a mailbox holds at most {MAILBOX_QUEUE} messages")

    def _take_room(self, message: _Message) -> None:
        self._bytes += len(message.body)
        self._messages += 1
        for who in counted_as(message.poster.household, message.poster.network):
            self._spent[who] = self._spent.get(who, 0) + message.cost
            if message.claimed:
                self._claims[who] = self._claims.get(who, 0) + 1

    def _wake(self, box_id: str, *, turn_away: bool) -> None:
        readers = self._readers.get(box_id)
        if readers is None:
            return
        if turn_away:  # they waited on a mailbox nobody had claimed: not for this message
            readers.turned_away = True
            del self._readers[box_id]
        readers.arrived.set()

    @property
    def readers(self) -> int:
        """Mailbox ids someone waits on now (none of them a mailbox unless a message came)."""
        return len(self._readers)

    async def take(self, box_id: str, wait: float) -> bytes | None:
        """The oldest message, removed; waiting up to `wait` seconds for one. None if none, or
        if a claim was posted there meanwhile (its message is not for who waited before it)."""
        body = self._pop(box_id)
        if body is not None or wait <= 0 or self.closing:
            return body
        if box_id not in self._readers and len(self._readers) >= MAX_MAILBOXES:
            raise MailboxFull("too many readers waiting on mailboxes")
        readers = self._readers.setdefault(box_id, _Readers())
        readers.count += 1
        try:
            return await self._wait(box_id, readers, self._clock() + wait)
        finally:
            readers.count -= 1
            if not readers.count and self._readers.get(box_id) is readers:
                del self._readers[box_id]

    async def _wait(self, box_id: str, readers: _Readers, deadline: float) -> bytes | None:
        while not (readers.turned_away or self.closing):
            remaining = deadline - self._clock()
            if remaining <= 0:
                return None
            readers.arrived.clear()
            try:
                await asyncio.wait_for(readers.arrived.wait(), remaining)
            except TimeoutError:
                return None
            if not readers.turned_away and (body := self._pop(box_id)) is not None:
                return body
        return None

    def close(self) -> None:
        """Wake every waiting reader (it answers 404) so shutdown is not held up."""
        self.closing = True
        for readers in self._readers.values():
            readers.arrived.set()

    def _pop(self, box_id: str) -> bytes | None:
        box = self._boxes.get(box_id)
        if box is None:
            return None
        self._expire(box)
        message = box.messages.popleft() if box.messages else None
        if message is not None:
            self._release(message)
        if not box.messages:
            del self._boxes[box_id]
        return None if message is None else message.body

    def _release(self, message: _Message) -> None:
        self._bytes -= len(message.body)
        self._messages -= 1
        for who in counted_as(message.poster.household, message.poster.network):
            _count_down(self._spent, who, message.cost)
            if message.claimed:
                _count_down(self._claims, who, 1)

    def _drop(self, box: _Mailbox) -> None:
        while box.messages:
            self._release(box.messages.popleft())

    def _expire(self, box: _Mailbox) -> None:
        """Release every expired message of `box` (ttls differ: not only those in front)."""
        now = self._clock()
        if all(m.expires > now for m in box.messages):
            return
        kept: deque[_Message] = deque()
        for message in box.messages:
            if message.expires > now:
                kept.append(message)
            else:
                self._release(message)
        box.messages = kept

    def _sweep(self) -> None:
        """Expire what is due, soonest first: the mailboxes with nothing due are not looked
        at. A message taken before it expired leaves its heap item behind, so the heap is
        rebuilt from what waits once most of it is such leftovers."""
        now = self._clock()
        while self._expiry and self._expiry[0][0] <= now:
            _expires, box_id = heapq.heappop(self._expiry)
            box = self._boxes.get(box_id)
            if box is not None:
                self._expire(box)
                if not box.messages:
                    del self._boxes[box_id]
        if len(self._expiry) > 2 * self._messages + 64:
            self._expiry = [(m.expires, i) for i, b in self._boxes.items() for m in b.messages]
            heapq.heapify(self._expiry)

    @property
    def expiry_items(self) -> int:
        """Items in the expiry heap: at most about twice the messages waiting."""
        return len(self._expiry)


def _count_down(counts: dict[str, int], address: str, by: int) -> None:
    """Lower an address's count, forgetting the address at zero (the table stays small)."""
    left = counts[address] - by
    if left:
        counts[address] = left
    else:
        del counts[address]

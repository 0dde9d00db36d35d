"""Pairing mailboxes: small single-use message queues, in memory only.

Two devices that are pairing exchange a few sealed messages through these before the joiner is
a member (the HTTP routes are pairing_routes.py). A restart empties them, which only means a
pairing must start over. Everything is bounded: messages per mailbox, mailboxes, the bytes
waiting in all of them, and what one address has waiting (each message counts its length plus
MESSAGE_COST, so that many small messages weigh too); a message expires after its ttl, and its
mailbox with it. A reader waiting on an empty mailbox is not a mailbox: it is kept apart, only
while it waits (the routes bound how many one address may have), so reads cannot fill the
relay's mailboxes.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tend.core.errors import ProtocolError

MAILBOX_QUEUE = 4
MAX_MAILBOXES = 10_000
MAILBOX_TOTAL_BYTES = 64 << 20
MESSAGE_COST = 1 << 10  # what a message weighs against its poster's budget, beyond its bytes
DEFAULT_ADDRESS_BUDGET = 256 << 10


class MailboxFull(ProtocolError):
    """Too many messages in one mailbox, or in all of them: try again later."""


class MailboxInUse(ProtocolError):
    """A claim on a mailbox that holds a message or has a waiting reader: pick another."""


@dataclass(frozen=True)
class _Message:
    expires: float
    body: bytes
    poster: str  # the address it counts against

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


class Mailboxes:
    """Small single-use message queues for pairing, in memory only: a restart empties them."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        address_budget: int = DEFAULT_ADDRESS_BUDGET,
    ) -> None:
        self._boxes: dict[str, _Mailbox] = {}
        self._readers: dict[str, _Readers] = {}
        self._clock = clock
        self._bytes = 0
        self._spent: dict[str, int] = {}  # poster address -> cost of its waiting messages
        self.address_budget = address_budget
        self.closing = False

    def __len__(self) -> int:
        return len(self._boxes)

    def post(
        self, box_id: str, body: bytes, ttl: float, *, claim: bool = False, poster: str = ""
    ) -> None:
        """Queue a message, counted against the `poster` address's budget. With `claim`, only
        into a mailbox nobody uses: one holding a message or a waiting reader raises
        MailboxInUse."""
        self._sweep()
        box = self._boxes.get(box_id)
        if claim and ((box is not None and box.messages) or box_id in self._readers):
            raise MailboxInUse("that mailbox is in use; pick another")
        message = _Message(self._clock() + ttl, body, poster)
        self._check_room(box, message)
        if box is None:
            box = self._boxes[box_id] = _Mailbox()
        box.messages.append(message)
        self._bytes += len(body)
        self._spent[poster] = self._spent.get(poster, 0) + message.cost
        if (readers := self._readers.get(box_id)) is not None:
            readers.arrived.set()

    def _check_room(self, box: _Mailbox | None, message: _Message) -> None:
        if self._spent.get(message.poster, 0) + message.cost > self.address_budget:
            raise MailboxFull("this address has too much waiting in mailboxes; try again later")
        if box is None and len(self._boxes) >= MAX_MAILBOXES:
            raise MailboxFull("too many mailboxes")
        if self._bytes + len(message.body) > MAILBOX_TOTAL_BYTES:
            raise MailboxFull("too many bytes waiting in mailboxes")
        if box is not None and len(box.messages) >= MAILBOX_QUEUE:
            raise MailboxFull(f"a mailbox holds at most {MAILBOX_QUEUE} messages")

    @property
    def readers(self) -> int:
        """Mailbox ids someone waits on now (none of them a mailbox unless a message came)."""
        return len(self._readers)

    async def take(self, box_id: str, wait: float) -> bytes | None:
        """The oldest message, removed; waiting up to `wait` seconds for one. None if none."""
        body = self._pop(box_id)
        if body is not None or wait <= 0 or self.closing:
            return body
        if box_id not in self._readers and len(self._readers) >= MAX_MAILBOXES:
            raise MailboxFull("too many readers waiting on mailboxes")
        readers = self._readers.setdefault(box_id, _Readers())
        readers.count += 1
        deadline = self._clock() + wait
        try:
            while (body := self._pop(box_id)) is None and not self.closing:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                readers.arrived.clear()
                try:
                    await asyncio.wait_for(readers.arrived.wait(), remaining)
                except TimeoutError:
                    break
            return body
        finally:
            readers.count -= 1
            if not readers.count:
                del self._readers[box_id]

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
        left = self._spent[message.poster] - message.cost
        if left:
            self._spent[message.poster] = left
        else:
            del self._spent[message.poster]

    def _expire(self, box: _Mailbox) -> None:
        now = self._clock()
        while box.messages and box.messages[0].expires <= now:
            self._release(box.messages.popleft())

    def _sweep(self) -> None:
        for box_id, box in list(self._boxes.items()):
            self._expire(box)
            if not box.messages:
                del self._boxes[box_id]

"""Pairing mailboxes: small single-use message queues, in memory only.

Two devices that are pairing exchange a few sealed messages through these before the joiner is
a member (the HTTP routes are pairing_routes.py). A restart empties them, which only means a
pairing must start over. Everything is bounded: messages per mailbox, mailboxes, and the bytes
waiting in all of them; a message expires after its ttl, and its mailbox with it once nobody
waits there.
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


class MailboxFull(ProtocolError):
    """Too many messages in one mailbox, or in all of them: try again later."""


class MailboxInUse(ProtocolError):
    """A claim on a mailbox that holds a message or has a waiting reader: pick another."""


@dataclass
class _Mailbox:
    messages: deque[tuple[float, bytes]] = field(default_factory=deque)  # (expires at, body)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    waiters: int = 0


class Mailboxes:
    """Small single-use message queues for pairing, in memory only: a restart empties them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._boxes: dict[str, _Mailbox] = {}
        self._clock = clock
        self._bytes = 0
        self.closing = False

    def __len__(self) -> int:
        return len(self._boxes)

    def post(self, box_id: str, body: bytes, ttl: float, *, claim: bool = False) -> None:
        """Queue a message. With `claim`, only into a mailbox nobody uses: one holding a
        message or a waiting reader raises MailboxInUse."""
        self._sweep()
        box = self._boxes.get(box_id)
        if claim and box is not None and (box.messages or box.waiters):
            raise MailboxInUse("that mailbox is in use; pick another")
        if box is None and len(self._boxes) >= MAX_MAILBOXES:
            raise MailboxFull("too many mailboxes")
        if self._bytes + len(body) > MAILBOX_TOTAL_BYTES:
            raise MailboxFull("too many bytes waiting in mailboxes")
        if box is None:
            box = self._boxes[box_id] = _Mailbox()
        if len(box.messages) >= MAILBOX_QUEUE:
            raise MailboxFull(f"a mailbox holds at most {MAILBOX_QUEUE} messages")
        box.messages.append((self._clock() + ttl, body))
        self._bytes += len(body)
        box.arrived.set()

    async def take(self, box_id: str, wait: float) -> bytes | None:
        """The oldest message, removed; waiting up to `wait` seconds for one. None if none."""
        box = self._boxes.setdefault(box_id, _Mailbox())
        deadline = self._clock() + wait
        box.waiters += 1
        try:
            while (body := self._pop(box)) is None and not self.closing:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                box.arrived.clear()
                try:
                    await asyncio.wait_for(box.arrived.wait(), remaining)
                except TimeoutError:
                    break
            return body
        finally:
            box.waiters -= 1
            self._forget_if_idle(box_id, box)

    def close(self) -> None:
        """Wake every waiting reader (it answers 404) so shutdown is not held up."""
        self.closing = True
        for box in self._boxes.values():
            box.arrived.set()

    def _pop(self, box: _Mailbox) -> bytes | None:
        self._expire(box)
        if not box.messages:
            return None
        _, body = box.messages.popleft()
        self._bytes -= len(body)
        return body

    def _expire(self, box: _Mailbox) -> None:
        now = self._clock()
        while box.messages and box.messages[0][0] <= now:
            self._bytes -= len(box.messages.popleft()[1])

    def _sweep(self) -> None:
        for box_id, box in list(self._boxes.items()):
            self._expire(box)
            self._forget_if_idle(box_id, box)

    def _forget_if_idle(self, box_id: str, box: _Mailbox) -> None:
        if not box.messages and not box.waiters and self._boxes.get(box_id) is box:
            del self._boxes[box_id]

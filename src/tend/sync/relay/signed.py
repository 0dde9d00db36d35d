"""The log entries whose signatures the relay has checked lately, so that each is checked once.

A push is checked twice: on the event loop, to forward it before it is committed (early.py),
and again in the store's thread as it commits (store.plan_extension), against what the store
holds then. What the store holds can change between the two, so the plan is made again; but
whether an entry is signed by a key cannot: an Ed25519 signature is valid or not for those
bytes under that key. So a check that passed is remembered by the key and the entry's SHA-256
(the hash its chain already uses, so equal hashes are equal entries), and the second check of
the same entry finds it. Only passes are kept, and only the latest MAX_REMEMBERED: a forged
entry is never remembered, and a remembered one is only ever found again for the very same
bytes under the very same key.
"""

from __future__ import annotations

import threading

MAX_REMEMBERED = 4096  # about 0.6 MB: a few seconds of pushes at the relay's full rate


class CheckedSignatures:
    """(key, entry hash) pairs whose signature check passed, the latest MAX_REMEMBERED.
    Used from the event loop and the store's threads alike."""

    def __init__(self, capacity: int = MAX_REMEMBERED) -> None:
        self._capacity = capacity
        self._passed: dict[tuple[bytes, bytes], None] = {}
        self._lock = threading.Lock()

    def passed(self, key: bytes, digest: bytes) -> bool:
        return (key, digest) in self._passed

    def remember(self, key: bytes, digest: bytes) -> None:
        with self._lock:
            self._passed[(key, digest)] = None
            while len(self._passed) > self._capacity:
                del self._passed[next(iter(self._passed))]


CHECKED = CheckedSignatures()

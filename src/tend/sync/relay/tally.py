"""Bytes counted for each household and network, and for everyone: what the relay's memory
budgets (queued.py, arriving.py) compare with their limits."""

from __future__ import annotations


class Tally:
    """Bytes counted for each owner (a household, a network) and in all; an owner at zero is
    forgotten, so the table holds only who holds something now."""

    def __init__(self) -> None:
        self._bytes: dict[str, int] = {}
        self.total = 0

    def held_by(self, owner: str) -> int:
        return self._bytes.get(owner, 0)

    def add(self, owners: tuple[str, ...], count: int) -> None:
        for owner in owners:
            self._bytes[owner] = self._bytes.get(owner, 0) + count
        self.total += count

    def subtract(self, owners: tuple[str, ...], count: int) -> None:
        for owner in owners:
            left = self._bytes.get(owner, 0) - count
            if left > 0:
                self._bytes[owner] = left
            else:
                self._bytes.pop(owner, None)
        self.total = max(0, self.total - count)

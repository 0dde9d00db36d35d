"""The relay's side of admission: what a Hello that creates a space must pass, and noting that
a space is active without writing on every sync.

The rules kept in the store's transaction (a code used up, an address counted) are in
sync/relay/limits.py; this decides, per connection, which of them apply: none for the
operator's own token; on an invite-only relay, a one-time code; everywhere, the per-address
limit, counted for the address `peer_household` names (an IPv6 client's /64).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from tend.core.ids import SpaceId
from tend.sync.protocol import Hello
from tend.sync.relay.config import RelayConfig
from tend.sync.relay.limits import (
    ACTIVITY_STEP,
    ADMISSION_WORDS,
    AdmissionRefused,
    Creation,
    address_key,
    code_hash,
)

MAX_NOTED = 100_000  # spaces whose last write of activity is remembered; then forgotten at once


@dataclass(frozen=True)
class Gate:
    """Who is connecting (their address, as peer_household counts it) to a relay set up as
    `config`."""

    config: RelayConfig = field(default_factory=RelayConfig)
    address: str = "unknown"

    def creation(self, hello: Hello, now: float) -> Creation:
        """What creating the Hello's space must pass; AdmissionRefused if nothing it carries
        could admit it on an invite-only relay."""
        config = self.config
        if self._is_operator(hello.admission):
            return Creation(now)  # the operator's own: no code, no limit
        limited = Creation(
            now,
            address=address_key(self.address),
            per_address=config.creations_per_address,
            window=config.creation_window,
        )
        if config.admission == "open":
            return limited
        if not hello.admission:
            raise AdmissionRefused(ADMISSION_WORDS)
        return Creation(
            now,
            code=code_hash(hello.admission),
            address=limited.address,
            per_address=limited.per_address,
            window=limited.window,
        )

    def _is_operator(self, given: str) -> bool:
        token = self.config.operator_token
        if not token or not given:
            return False
        # Hashes first: compare_digest is constant-time only for inputs of one length.
        ours, theirs = (hashlib.sha256(t.encode()).digest() for t in (token, given))
        return hmac.compare_digest(ours, theirs)


class Activity:
    """When this instance last wrote each space's activity: at most once per ACTIVITY_STEP, so
    a sync costs a dictionary lookup, and a report is at most that much behind."""

    def __init__(self) -> None:
        self._written: dict[SpaceId, float] = {}

    def due(self, space: SpaceId, now: float) -> bool:
        last = self._written.get(space)
        if last is not None and now - last < ACTIVITY_STEP:
            return False
        if len(self._written) >= MAX_NOTED:
            self._written.clear()  # bounded memory; a few more writes is all it costs
        self._written[space] = now
        return True

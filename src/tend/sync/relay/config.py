"""What an operator can tune about a relay, in one frozen value that `make_app` takes.

One place for every setting, so that flags, the environment and a configuration file (the
CLI's business) all end in the same value, and each part of the relay reads only the fields
it needs from the app's CONFIG key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tend.sync.relay.store import DEFAULT_ESCROW_CAP, DEFAULT_INVITATION_CAP, DEFAULT_QUOTA


@dataclass(frozen=True)
class RelayConfig:
    """A relay's settings. The defaults suit a relay on loopback or a private network."""

    quota: int = DEFAULT_QUOTA  # most bytes of entries one space may store
    invitation_cap: int = DEFAULT_INVITATION_CAP  # bytes of invitations the relay holds
    escrow_cap: int = DEFAULT_ESCROW_CAP  # bytes of recovery escrows the relay holds

    # --- deployment: whom the relay believes about addresses, and who reads /metrics ---
    # Reverse proxies (addresses or networks) whose forwarded header names the real client;
    # from anyone else the header is ignored (peer.py).
    trusted_proxies: tuple[str, ...] = ()
    forwarded_header: str = "x-forwarded-for"  # the header those proxies set, or "forwarded"
    # A bearer token that lets peers other than loopback read /metrics (metrics_gate.py);
    # kept out of repr so that printing a config never shows it.
    metrics_token: str | None = field(default=None, repr=False)

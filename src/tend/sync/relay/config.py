"""What an operator can tune about a relay, in one frozen value that `make_app` takes.

One place for every setting, so that flags, the environment and a configuration file (the
CLI's business) all end in the same value, and each part of the relay reads only the fields
it needs from the app's CONFIG key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tend.core.log.escrow import MAX_BLOB
from tend.sync.relay.arriving import RELAY_BYTES as ARRIVING_BYTES
from tend.sync.relay.limits import DAY
from tend.sync.relay.mailboxes import (
    DEFAULT_ADDRESS_BUDGET,
    DEFAULT_CLAIMS_PER_ADDRESS,
    DEFAULT_CLAIMS_PER_NETWORK,
    DEFAULT_NETWORK_BUDGET,
)
from tend.sync.relay.queued import RELAY_BYTES
from tend.sync.relay.store import (
    DEFAULT_ESCROW_CAP,
    DEFAULT_INVITATION_CAP,
    DEFAULT_QUOTA,
    ROW_OVERHEAD,
)

Admission = Literal["open", "token"]
ADMISSIONS: tuple[Admission, ...] = ("open", "token")
DEFAULT_CREATIONS_PER_ADDRESS = 20  # new spaces per address per day: a couple needs one
# What one household (an address, an IPv6 /64) may leave at the relay at once. An invitation
# bundle is under 1 KiB and a household has a few out at most: 64 KiB holds about sixty of
# them (or four of the largest, 16 KiB), and a thousand households are needed to fill the
# invitation cap. An escrow is one per person, a few KiB; four of the largest (64 KiB) leave
# room for everyone in a household, and a thousand households fit the escrow cap.
DEFAULT_INVITATION_BYTES_PER_ADDRESS = 64 << 10
DEFAULT_ESCROW_BYTES_PER_ADDRESS = 4 * (MAX_BLOB + ROW_OVERHEAD)
# What all the households of one wider network (an IPv6 /48; for IPv4 the address itself,
# peer.py says why) may leave together: else one stranger with a free /48 has 65,536
# households' budgets and fills the caps alone. Eight households' worth is room for a site
# or a small ISP customer with several households behind one /48, while one /48 fills an
# eighth of a thousand households' caps at most: 128 such strangers are needed for the cap.
HOUSEHOLDS_PER_NETWORK = 8
DEFAULT_INVITATION_BYTES_PER_NETWORK = HOUSEHOLDS_PER_NETWORK * DEFAULT_INVITATION_BYTES_PER_ADDRESS
DEFAULT_ESCROW_BYTES_PER_NETWORK = HOUSEHOLDS_PER_NETWORK * DEFAULT_ESCROW_BYTES_PER_ADDRESS
# Days an escrow not rewritten is kept: a device rewrites its own every 30 days when it syncs
# (sync/client.py), so only an escrow nobody has used for over a year expires.
DEFAULT_ESCROW_DAYS = 400
MIN_ESCROW_DAYS = 60  # well past a device's 30-day rewrite, so a month offline loses nothing


@dataclass(frozen=True)
class RelayConfig:
    """A relay's settings. The defaults suit a relay on loopback or a private network."""

    quota: int = DEFAULT_QUOTA  # most bytes of entries one space may store
    invitation_cap: int = DEFAULT_INVITATION_CAP  # bytes of invitations the relay holds
    escrow_cap: int = DEFAULT_ESCROW_CAP  # bytes of recovery escrows the relay holds

    # Bounds on what a peer may hold before it authenticates, and on the pairing mailboxes
    # (anyone may post to those). Per-address bounds count peer.peer_household. The defaults let
    # a household behind one NAT pair and sync every device it has at once.
    hello_deadline: float = 10.0  # seconds a new websocket has to send its Hello
    connections_per_address: int = 32  # sync websockets open at once from one address
    # and from all the addresses of one wider network (peer.network: an IPv6 /48, whose
    # 65,536 /64s would each have the address's share); never less than an address's
    connections_per_network: int = 4 * 32
    # Sync connections one address may open a minute (in bursts of as many), and its wider
    # network four times that: a device reconnecting after a dropped link opens a few, a
    # storm of reconnections thousands, each costing the relay a handshake.
    connection_opens_per_minute: int = 240
    # Bytes the relay holds for devices that have not read them yet, all together (queued.py):
    # past it, the session whose device has waited longest is cut off and resumes later. A
    # relay with more memory and many devices catching up at once may raise it.
    held_for_devices: int = RELAY_BYTES
    # Bytes of large messages on their way in from devices, all together (arriving.py): past
    # it, a device announcing another is told the relay is busy and sends it later.
    arriving_bytes: int = ARRIVING_BYTES
    # Plain HTTP requests (pairing, invitations, escrows, health, metrics) in progress at once
    # from one address, each counted from its headers until its answer; and the seconds a
    # request's body may take to arrive.
    http_requests_per_address: int = 16
    body_deadline: float = 10.0
    mailbox_bytes_per_address: int = DEFAULT_ADDRESS_BUDGET  # of mailbox messages, one address
    mailbox_waits_per_address: int = 8  # mailbox GETs waiting at once from one address
    mailbox_claims_per_address: int = DEFAULT_CLAIMS_PER_ADDRESS  # claimed mailboxes (short codes)
    # And what all the households of one wider network (peer.network) hold together; never less
    # than one household's (settings.py refuses a smaller one).
    mailbox_bytes_per_network: int = DEFAULT_NETWORK_BUDGET
    mailbox_claims_per_network: int = DEFAULT_CLAIMS_PER_NETWORK
    mailbox_posts_per_minute: int = 60  # mailbox POSTs from one address (a burst of as many)
    mailbox_reads_per_minute: int = 120  # mailbox GETs from one address (a burst of as many)
    # Invitations and recovery escrows fill caps shared by everyone, so each address may write
    # only so many a minute, and hold only so many bytes of each at once (store.py's budgets:
    # a write past its own is refused, so that one address cannot fill the cap for all).
    invitation_posts_per_minute: int = 10  # invitation POSTs from one address
    escrow_puts_per_minute: int = 10  # escrow PUTs from one address
    invitation_bytes_per_address: int = DEFAULT_INVITATION_BYTES_PER_ADDRESS
    escrow_bytes_per_address: int = DEFAULT_ESCROW_BYTES_PER_ADDRESS
    # And so many bytes of each from all the households of one wider network (peer.network);
    # never less than one household's budget (settings.py refuses a smaller one).
    invitation_bytes_per_network: int = DEFAULT_INVITATION_BYTES_PER_NETWORK
    escrow_bytes_per_network: int = DEFAULT_ESCROW_BYTES_PER_NETWORK
    # An escrow not rewritten for this many days is no longer served, and `tend relay gc`
    # deletes it (at least MIN_ESCROW_DAYS).
    escrow_days: int = DEFAULT_ESCROW_DAYS

    # Admission and storage limits (sync/relay/admission.py, sync/relay/limits.py): who may
    # create a space, how fast, and how much all spaces together may hold.
    admission: Admission = "open"  # "token": new spaces only with a one-time code or the token
    # The operator's own token, which creates spaces past every limit. Kept out of repr so that
    # it is never printed or logged with the settings.
    operator_token: str = field(default="", repr=False)
    creations_per_address: int = DEFAULT_CREATIONS_PER_ADDRESS  # per window; 0: no limit
    creation_window: float = DAY  # seconds
    storage_cap: int | None = None  # bytes of entries across all spaces (None: no cap)

    # --- deployment: whom the relay believes about addresses, and who reads /metrics ---
    # Reverse proxies (addresses or networks) whose forwarded header names the real client;
    # from anyone else the header is ignored (peer.py).
    trusted_proxies: tuple[str, ...] = ()
    forwarded_header: str = "x-forwarded-for"  # the header those proxies set, or "forwarded"
    # A bearer token that lets peers other than loopback read /metrics (metrics_gate.py);
    # kept out of repr so that printing a config never shows it.
    metrics_token: str | None = field(default=None, repr=False)

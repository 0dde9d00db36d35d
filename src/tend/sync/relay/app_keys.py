"""The typed keys under which the relay's aiohttp app holds its services.

A module of their own so that every set of routes (app.py's sync routes, pairing_routes.py)
reads the same services without importing the app factory.
"""

from __future__ import annotations

from aiohttp import web

from tend.sync.relay.admission import Activity
from tend.sync.relay.arriving import Arriving
from tend.sync.relay.config import RelayConfig
from tend.sync.relay.fanout import Hub
from tend.sync.relay.mailboxes import Mailboxes
from tend.sync.relay.metrics import Metrics
from tend.sync.relay.peer_limits import PeerLimits
from tend.sync.relay.queued import Queued
from tend.sync.relay.session import Session
from tend.sync.relay.store import RelayStore

STORE = web.AppKey[RelayStore]("store")  # opened on startup (cleanup_ctx), closed on cleanup
HUB = web.AppKey[Hub[Session]]("hub")
METRICS = web.AppKey("metrics", Metrics)
MAILBOXES = web.AppKey("mailboxes", Mailboxes)
CONFIG = web.AppKey("config", RelayConfig)  # the operator's settings, fixed for the app's life
LIMITS = web.AppKey("limits", PeerLimits)  # what one address may hold or do at once
ACTIVITY = web.AppKey("activity", Activity)  # when each space's activity was last written
QUEUED = web.AppKey("queued", Queued)  # held for devices not reading, by household and network
ARRIVING = web.AppKey("arriving", Arriving)  # large messages on their way in, by who sends them

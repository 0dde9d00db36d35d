"""The relay: a blind aiohttp server that stores and forwards sealed entries between devices.

One module per reason to change:

    app.py             the aiohttp app factory (typed keys, cleanup_ctx, shutdown) and `serve`
    app_keys.py        the typed keys the app holds its services under
    session.py         one device's websocket, over protocol.Connection(RELAY)
    fanout.py          which sessions get which new entries, here and from other instances
    vectors.py         what has gone out, per log, so nothing is sent twice or out of order
    mailboxes.py       the in-memory pairing mailboxes
    peer_limits.py     what one address may hold or do at once (connections, mailbox use)
    limits.py          who may create a space and which spaces may be cleared: the store rules
    admission.py       which of those rules apply to one connection
    accept_errors.py   one log line a second when accept runs out of file descriptors
    pairing_routes.py  the HTTP routes for pairing mailboxes, invitations and recovery escrows
    metrics.py         the /metrics counters and the one-JSON-object log line
    store_spec.py      which database the store lives in (SQLite or PostgreSQL), and opening it
    store.py           the RelayStore interface, its shared checks, and SqliteRelayStore
    store_pg.py        PostgresRelayStore, for several instances sharing one database

What the relay learns: space ids, opaque log ids and each log's public key (one random key per
device, linked to no person), seqs, sizes and timing, and from rotation records which logs
stay and which were removed, and when. It logs one JSON object per line (metrics.py) and never
entry bytes, capabilities, keys, records, mailbox or invitation ids, locators or bodies.

This package imports no secret-key, envelope or journal code: only the keyless log wing
(tend.core.log), the basics, the sync protocol and the shared batching rule, so the relay
cannot open what it stores (tests/test_import_graph.py checks it). The one cryptographic
operation it performs is verifying Ed25519 signatures with public keys (core/log/authorship.py,
through the store and core/log/escrow.py).

Importing this package loads none of its modules: take what you need from the module that
owns it (`from tend.sync.relay.app import make_app`).
"""

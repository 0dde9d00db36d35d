"""Sync between devices: wire protocol, relay and client (see docs/protocol.md)."""

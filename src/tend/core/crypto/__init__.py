"""Sealing, signing and the device's secrets: the wing that holds keys."""

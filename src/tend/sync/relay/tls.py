"""TLS for a relay that terminates it itself (`--tls-cert`, `--tls-key`).

TLS 1.2 at least: older versions have known breaks, and every client tend supports speaks 1.2
or 1.3. The ciphers are Python's defaults for a server (forward secrecy, AEAD first).
"""

from __future__ import annotations

import ssl

from tend.core.errors import UserError


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A server-side context holding `cert` (a PEM chain) and `key`; a UserError says which
    could not be loaded, and why."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        why = getattr(e, "strerror", None) or getattr(e, "reason", None) or str(e)
        raise UserError(f"cannot load the TLS certificate {cert} with key {key}: {why}") from e
    return context

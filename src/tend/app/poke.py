"""Telling the process that keeps this home in sync (app/live.py) that the log changed.

A `tend` command that wrote an entry sends a one-byte datagram to a Unix socket in the journal's
home (SOCKET_NAME, mode 0600, in the home's private folder); the running `tend ui` or
`tend sync --watch` wakes and pushes the entry at once. Nothing polls. This module is imported
by every command that writes, so it loads only the C socket module (no asyncio, no network
stack): a poke costs a few microseconds, and when nothing listens it fails silently.

Where Unix sockets are unavailable (Windows), `poke` does nothing: an entry recorded by a separate
command then leaves with the running process's next connection, or with `tend sync`.
"""

from __future__ import annotations

import os
from pathlib import Path

SOCKET_NAME = "live.sock"
# sun_path holds 108 bytes on Linux and 104 on the BSDs and macOS, with its final NUL.
_PATH_MAX = 100


def address(home: Path) -> tuple[str, int | None]:
    """The socket's address for `home`, and a directory descriptor the caller closes when one
    was needed: a home whose path is too long for a socket address is reached through
    /proc/self/fd where there is one (Linux), else the path is used as it is."""
    path = os.fspath(home / SOCKET_NAME)
    if len(os.fsencode(path)) <= _PATH_MAX or not os.path.isdir("/proc/self/fd"):
        return path, None
    fd = os.open(home, getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{SOCKET_NAME}", fd


def poke(home: Path) -> None:
    """Tell a running LiveSync of `home` that its log changed. Never fails, never waits."""
    try:
        import _socket
    except ImportError:  # pragma: no cover - a Python without sockets
        return
    family = getattr(_socket, "AF_UNIX", None)
    if family is None:
        return  # no Unix sockets here: see the module's note
    fd = None
    try:
        where, fd = address(home)
        sock = _socket.socket(family, _socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.sendto(b"!", where)
        finally:
            sock.close()
    except OSError:
        # Nobody listens (no socket, or a stale one), or its queue is full (it has been told).
        pass
    finally:
        if fd is not None:
            os.close(fd)

"""The unlock agent: holds one journal's device-file key for a while, so a passphrase is typed
once per session rather than on every command.

Started by the first command that asks for the passphrase on a terminal, as a detached process
of the same user; it listens on a Unix socket in a directory only that user can enter, answers
only processes of that user (checked with SO_PEERCRED where the system has it), and exits when
it has not been asked for `idle` seconds, after `longest` seconds whatever happens, or when
`tend lock` tells it to. It holds the derived key (core/crypto/passphrase.py), never the passphrase.

Requests are one byte: G (give the lock) or L (forget it and exit). Replies are msgpack.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack

from tend.core.crypto.passphrase import Cost, Lock

GIVE = b"G"
FORGET = b"L"
IDLE_SECONDS = 30 * 60  # forgotten after half an hour unused ...
LONGEST_SECONDS = 12 * 60 * 60  # ... and after twelve hours in any case
_MAX_REPLY = 4096


def available() -> bool:
    return hasattr(socket, "AF_UNIX") and hasattr(os, "getuid")


def _runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        return Path(base) / "tend"
    return Path(tempfile.gettempdir()) / f"tend-{os.getuid()}"


def _private_dir() -> Path | None:
    """The agent's directory, made 0700 if missing; None if someone else could reach into it
    (then no agent is used: asking again is better than handing the key to another user)."""
    folder = _runtime_dir()
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    if not folder.is_dir() or folder.is_symlink():
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return folder


def socket_path(home: Path) -> Path | None:
    folder = _private_dir()
    if folder is None:
        return None
    name = hashlib.sha256(str(home.resolve()).encode("utf-8")).hexdigest()[:20]
    return folder / f"agent-{name}.sock"


def _encode(lock: Lock) -> bytes:
    cost = [lock.cost.time, lock.cost.memory_kib, lock.cost.lanes]
    packed: bytes = msgpack.packb({"salt": lock.salt, "cost": cost, "key": lock.key})
    return packed


def _decode(raw: bytes) -> Lock | None:
    try:
        found = msgpack.unpackb(raw, raw=False)
        salt, cost, key = found["salt"], found["cost"], found["key"]
        lock = Lock(bytes(salt), Cost(*(int(c) for c in cost)), bytes(key))
    except (ValueError, TypeError, KeyError, msgpack.UnpackException):
        return None
    return lock if len(lock.key) == 32 else None


# --- the client side: used by commands ------------------------------------------------------------


def _ask(home: Path, request: bytes) -> bytes | None:
    if not available():
        return None
    path = socket_path(home)
    if path is None or not path.exists():
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(2)
            conn.connect(str(path))
            conn.sendall(request)
            conn.shutdown(socket.SHUT_WR)
            reply = b""
            while chunk := conn.recv(_MAX_REPLY):
                reply += chunk
                if len(reply) > _MAX_REPLY:
                    return None
            return reply
    except OSError:
        return None  # no agent, or one that went away: ask for the passphrase instead


def held_lock(home: Path) -> Lock | None:
    """The lock the agent holds for this journal, if one is running."""
    reply = _ask(home, GIVE)
    return _decode(reply) if reply else None


def forget(home: Path) -> bool:
    """Tell this journal's agent to forget its key and exit; whether one was running."""
    return _ask(home, FORGET) == b"ok"


def start(home: Path, lock: Lock) -> None:
    """Start an agent holding `lock`, detached: it outlives this command, not the idle time."""
    if not available() or idle_seconds() == 0:
        return
    path = socket_path(home)
    if path is None:
        return
    forget(home)  # one agent a journal: a newer lock replaces an older one
    agent = subprocess.Popen(
        [sys.executable, "-m", "tend.cli.unlock_agent", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    assert agent.stdin is not None
    agent.stdin.write(_encode(lock))
    agent.stdin.close()


# --- the agent itself -----------------------------------------------------------------------------


def _same_user(conn: socket.socket) -> bool:
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True  # the 0700 directory is the guard on systems without peer credentials
    raw = conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return bool(uid == os.getuid())


def serve(path: Path, lock: Lock, idle: float, longest: float) -> None:
    path.unlink(missing_ok=True)
    old_umask = os.umask(0o177)
    try:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
    finally:
        os.umask(old_umask)
    server.listen(8)
    started = last = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            left = min(last + idle, started + longest) - now
            if left <= 0:
                return
            server.settimeout(left)
            try:
                conn, _ = server.accept()
            except TimeoutError:
                return
            with conn:
                if _answer(conn, lock):
                    return
            last = time.monotonic()
    finally:
        server.close()
        path.unlink(missing_ok=True)


def _answer(conn: socket.socket, lock: Lock) -> bool:
    """Answer one request; True when the agent should stop."""
    conn.settimeout(2)
    try:
        if not _same_user(conn):
            return False
        request = conn.recv(1)
        if request == GIVE:
            conn.sendall(_encode(lock))
        elif request == FORGET:
            conn.sendall(b"ok")
            return True
    except OSError:
        pass
    return False


def idle_seconds() -> float:
    """How long an unused unlock lasts: TEND_UNLOCK_MINUTES, or half an hour; 0 turns it off."""
    raw = os.environ.get("TEND_UNLOCK_MINUTES", "")
    try:
        minutes = float(raw) if raw else IDLE_SECONDS / 60
    except ValueError:
        minutes = IDLE_SECONDS / 60
    return max(0.0, min(minutes * 60, LONGEST_SECONDS))


def main() -> None:
    path = Path(sys.argv[1])
    lock = _decode(sys.stdin.buffer.read(_MAX_REPLY))
    if lock is not None:
        serve(path, lock, idle=idle_seconds(), longest=LONGEST_SECONDS)


if __name__ == "__main__":
    main()

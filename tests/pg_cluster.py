"""A private PostgreSQL cluster for the tests that stop and start the database, and a tiny TCP
load balancer for the tests that kill a relay instance behind one.

Stopping the machine's shared PostgreSQL would break everyone else's tests, so a fault test
runs its own: `initdb` into a temporary directory, `pg_ctl` to start and stop it on a free
loopback port. PostgreSQL refuses to run as root, so as root everything runs as the
`postgres` OS user (and the directory is theirs). `PrivateCluster.unavailable()` says why one
cannot be had, for a skip.

`Forwarder` is what a load balancer in front of relay instances does at its simplest: each
new connection goes to the first backend that accepts it, and bytes are copied both ways. A
dead instance refuses connections, so devices that reconnect land on a live one; no session
stickiness is needed, because every instance serves every space from the shared database.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import free_port

START_SECONDS = 30


def server_binaries() -> Path | None:
    """The newest PostgreSQL server binaries in the standard Debian location, or on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_major)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _major(path: str) -> int:
    version = Path(path).parent.parent.name
    return int(version) if version.isdigit() else 0


def _as_postgres() -> list[str]:
    """A prefix running a command as the `postgres` user when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


class PrivateCluster:
    """A PostgreSQL cluster of our own, on 127.0.0.1 and a free port, trust auth."""

    def __init__(self, binaries: Path) -> None:
        self.bin = binaries
        # Not under pytest's tmp_path: its parents are root's alone, and the server runs as
        # postgres.
        self.folder = Path(tempfile.mkdtemp(prefix="tend-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)

    @staticmethod
    def unavailable() -> str | None:
        """Why no private cluster can be started here, or None."""
        if server_binaries() is None:
            return "the PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no postgres user to run PostgreSQL as"
            if shutil.which("runuser") is None:
                return "running as root and runuser is missing"
        return None

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*_as_postgres(), str(self.bin / tool), *args],
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=START_SECONDS * 2,
            cwd=self.folder,
        )

    def init(self) -> PrivateCluster:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=on"
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


class Forwarder:
    """A TCP load balancer on loopback: each connection to the first backend that accepts."""

    def __init__(self, backends: Sequence[int]) -> None:
        self.backends = list(backends)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.served: list[int] = []  # the backend each connection went to
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> Forwarder:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for port in self.backends:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue  # a dead instance: try the next, as a health-checking balancer would
            self.served.append(port)
            for source, sink in ((reader, up_writer), (up_reader, writer)):
                task = asyncio.create_task(_copy(source, sink))
                self._pipes.add(task)
                task.add_done_callback(self._pipes.discard)
            return
        writer.close()


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Bytes one way until either side closes; then close the other end, as a balancer does."""
    try:
        while chunk := await source.read(1 << 16):
            sink.write(chunk)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        sink.close()

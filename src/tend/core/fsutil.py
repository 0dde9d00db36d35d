"""Small file-system helpers: private files written whole or not at all."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from tend.core.errors import StorageFull


def ensure_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def write_private_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` with mode 0600, durably, replacing any old file in one step."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked (signals, some file systems)
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(f"the disk is full; {path.name} was left as it was") from e
        raise

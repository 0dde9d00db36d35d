"""The relay's heap: large buffers go back to the system when they are freed.

glibc serves a large allocation (over its mmap threshold, 128 KiB at start) with mmap and
unmaps it when freed, but each time such a block is freed it raises the threshold to that
block's size, up to 32 MiB. After one 4 MiB frame (a hostile client's Hello, refused once
read), buffers of that size come from the heap instead, and the heap keeps the pages of
whatever is freed among live objects: under the load benchmark's attacks the relay's peak RSS
was 157 MiB, 137 MiB with the threshold fixed at 128 KiB (bench/bench_relay_load.py,
docs/benchmarks.md). Fixing it costs an mmap and a munmap for each buffer that large, which
only frames of hundreds of KiB need.
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 128 * 1024  # glibc's starting value, kept from moving


def fix_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Keep allocations over `size` in mmap for the life of the process (glibc only): True
    if the C library took it; False elsewhere, which changes nothing but the relay's peak."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this interpreter runs on
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, size))

"""Keep freed large buffers in the process heap (glibc ``mallopt``), so a step's big temporaries are
not page-faulted in again at every step (docs/performance.md, "Freed buffers stay in the heap")."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
M_MMAP_THRESHOLD = -3
RETAIN_BYTES = 2**31 - 1  # mallopt's value is a C int
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def is_glibc() -> bool:
    """Whether this process runs on glibc (``os.confstr("CS_GNU_LIBC_VERSION")``)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # not a glibc system
        return False


def retain_freed_memory(limit: int = RETAIN_BYTES) -> bool:
    """Serve allocations below ``limit`` bytes from the heap and keep up to ``limit`` freed
    bytes there (glibc ``mallopt(M_MMAP_THRESHOLD)`` and ``mallopt(M_TRIM_THRESHOLD)``).

    Returns whether both settings were applied: ``False`` (nothing changed) off glibc or when
    the environment already sets glibc's malloc (:data:`USER_SETTINGS`).
    """
    if not 0 < limit <= RETAIN_BYTES:
        raise ValueError(f"limit: expected 1 ... {RETAIN_BYTES} bytes, got {limit}")
    if any(name in os.environ for name in USER_SETTINGS):
        return False
    if not is_glibc():
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, limit)) and bool(mallopt(M_TRIM_THRESHOLD, limit))

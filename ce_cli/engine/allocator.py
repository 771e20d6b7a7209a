"""glibc's malloc, tuned once per process for batch-sized temporaries."""

from __future__ import annotations

import ctypes
import sys

# glibc malloc: serve per-batch temporaries below MALLOC_MMAP_BYTES from the heap, and keep up
# to MALLOC_TRIM_BYTES of freed heap instead of returning it at once, so batches reuse pages
# rather than fault fresh ones. Measured on `ce score --loss bce` over 50M binary rows (32k-row
# batches of 256 KB arrays): 8.6 s → 4.0 s, system time 3.5 s → 0.2 s; neutral on 1M × 100.
MALLOC_MMAP_BYTES = 4 << 20
MALLOC_TRIM_BYTES = 64 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_tuned = False


def tune_allocator() -> None:
    """Once per process, on glibc: the malloc thresholds above (a no-op elsewhere)."""
    global _tuned
    if _tuned or not sys.platform.startswith("linux"):
        return
    _tuned = True
    try:
        # the process's own symbols, libc's among them (find_library would run ldconfig)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_BYTES)
    mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_BYTES)

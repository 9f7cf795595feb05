"""Process-wide settings for a process that trains (a trainer, the CLI, a benchmark, the tests).

Why ``keep_heap``: a training step allocates and frees the same activation buffers every step. The
batched ones (8 seeds x 256 samples x 64 units = 512 KiB) are above glibc's default mmap threshold
(128 KiB, raised only as large blocks are freed), so each step's buffers came from fresh ``mmap``
pages and every page was faulted in again: ~150-240 minor page faults per step of the ring's plain
GAN, measured with ``getrusage``. Keeping large blocks on the heap and not trimming it reuses the same
warm pages; the numbers computed are the same (every tensor is still 64-byte aligned), only where
they live changes. Not for the Streamlit server, whose heap should shrink after a burst.
"""
from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_THRESHOLD = 64 << 20  # blocks under 64 MiB come from the heap, not from fresh mmap pages
TRIM_THRESHOLD = 256 << 20  # return free heap to the OS only beyond 256 MiB


def keep_heap() -> bool:
    """Tell glibc's malloc to reuse freed blocks instead of unmapping them. Returns whether it took
    effect (False where the C library is not glibc: nothing changes there)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))

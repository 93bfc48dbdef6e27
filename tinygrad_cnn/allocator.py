"""Keep freed array memory for reuse instead of handing it back to the OS after every op.

Every op makes fresh numpy arrays, many of them megabytes (im2col matrices, activations,
gradients). glibc's malloc serves such sizes with a fresh ``mmap`` and returns them with
``munmap`` when freed, so each training step pays thousands of page faults for the kernel to
zero the same memory again: measured on a LeNet-5 step, ~40% of the time went to the kernel.
Raising the mmap and trim thresholds makes malloc keep and reuse that memory (as PyTorch's own
caching allocator does); the peak memory is unchanged, only its return to the OS is deferred.

It changes malloc for the whole process, so importing tinygrad_cnn never applies it: call
``tune_allocator()`` in a process that mostly trains (the ``train`` command and the benchmarks
do). Linux with glibc only; ``TINYGRAD_CNN_MALLOC_TUNING=0`` turns it off even there.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1          # from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's upper limit on 64-bit systems
_TRIM_THRESHOLD = 256 << 20

tuned = False


def tune_allocator() -> bool:
    """Raise glibc's mmap/trim thresholds (see the module docstring); True if it was applied."""
    global tuned
    if tuned or not sys.platform.startswith("linux") or os.environ.get("TINYGRAD_CNN_MALLOC_TUNING") == "0":
        return tuned
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    tuned = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return tuned

"""Keep freed memory in the process: glibc's malloc hands every large block (its mmap threshold starts at
128 KiB) back to the OS on free, and the next allocation faults fresh, zeroed pages in again. On a CPU, torch's
activations and convolution workspaces are such blocks, allocated every step.

Measured on the 2-core development CPU, one thread, CPU seconds: a label-distillation meta-step (LeNet, 1,024
target images) 0.121 -> 0.085 s, with ConvNet-3 (width 32) 1.41 -> 0.53 s; LeNet's first convolution on 1,024
images 30 -> 9 ms; a 300-step fp32 ConvNet-3 evaluation 87 -> 75 s; peak memory +8 % to +25 %. Set
``DDBENCH_MALLOC=default`` to keep glibc's behaviour.
"""

from __future__ import annotations

import ctypes
import os
import sys

ENV = "DDBENCH_MALLOC"
M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_MAX = -4
TRIM_THRESHOLD = 1 << 30  # free heap top kept before it is returned to the OS


def keep_freed_memory() -> bool:
    """Serve large blocks from the heap and keep up to 1 GiB of free heap top (glibc on Linux; elsewhere, or
    with ``DDBENCH_MALLOC=default``, nothing changes). True when the setting took effect."""
    if not sys.platform.startswith("linux") or os.environ.get(ENV, "") == "default":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))

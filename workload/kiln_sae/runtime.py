"""Process-wide CPU runtime settings for ``python -m kiln_sae`` (and the throughput bench, which times Kiln
and sae-lens under the same ones). Neither imports torch: both must run before torch is first imported.

Measured on the shared 2-vCPU dev box (AMD EPYC, KVM), TopK step d=384 n=3072 k=32, 4096 tokens:
- OpenMP waits: 2 threads at load ~5 ran 5.8k tok/s with libgomp's spinning waits and 10.6k with passive
  ones (CPU per step 475 -> 293 ms);
- freed heap kept: 1.8k-6k page faults per step -> ~0-400, CPU per step -8 to -15 % at 1 thread.
A user's own setting of either (``OMP_WAIT_POLICY``, ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``)
always wins.
"""
from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter ids (malloc.h)
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's largest allowed mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
_TRIM_THRESHOLD = 1 << 30


def passive_openmp_waits() -> None:
    """Idle OpenMP threads sleep at once instead of spinning.

    libgomp (PyTorch's CPU thread pool on Linux) spins ~300k iterations at every barrier before sleeping. On a
    machine whose cores are shared with other jobs, the thread that finished its half of an op spins on the
    core its preempted sibling needs; the TopK step is tens of short parallel ops, so it pays that at every
    one. Sleeping costs one futex wake (microseconds) per op when the cores are idle. libgomp reads the
    variable when it loads (torch's import)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def retain_freed_heap() -> bool:
    """Keep freed heap memory for reuse instead of handing it back to the kernel after every step (glibc only;
    False where it does not apply).

    Every step allocates and frees the same few-MB tensors ([tokens, d] activations, gradients). glibc serves
    them from fresh mmaps or trims the heap after each free, so each step faults the same pages back in (and
    zeroes them): thousands of page faults per step. With the mmap threshold at its maximum (32 MB) and the
    trim threshold at 1 GB the freed blocks are reused. Larger blocks are still mmapped and unmapped when
    freed (the [tokens, n] pre-activations avoid that through sparse_ops' reusable buffer)."""
    if not sys.platform.startswith("linux") or {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & set(os.environ):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def tune_cpu_runtime() -> None:
    passive_openmp_waits()
    retain_freed_heap()

"""The seeding policy: every random draw of a run derives from the seeds in its configuration.

What is seeded, and where (nothing else calls ``torch.manual_seed``):
- ``seed_global(seed)``: torch's global generator (CPU and every CUDA device), which weight
  initialisation, dropout and kornia augmentations draw from. Called by ``run_method`` before a method
  runs (the distillation seed), by the trainer before it builds each model (the evaluation seed), by
  the teacher cache before a teacher trains, and by a method that must make its later draws
  independent of whether a cached piece was loaded or built (rded's crops, mtt's experts).
- ``generator(seed)``: a private ``torch.Generator`` for index draws (example order, subsets, base
  images), so they do not depend on how many numbers other code drew from the global generator.
The clock is never a seed. ``pin_runtime`` fixes what else decides the bits of a result: torch's
thread count (``--threads`` or ``$DDBENCH_THREADS``; a float sum splits differently across threads) and
torch's deterministic algorithms (on; operations without one only warn).
"""

from __future__ import annotations

import os

import torch

from benchmarks.errors import UserError

THREADS_ENV = "DDBENCH_THREADS"


def pin_runtime(threads: int | None = None) -> None:
    """Pin torch's intra-op thread count (``threads``, else ``$DDBENCH_THREADS``, else torch's default) and turn
    on deterministic algorithms, so that a run repeats bit for bit on the same machine."""
    value = threads if threads is not None else os.environ.get(THREADS_ENV)
    if value is not None:
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise UserError(f"the thread count (--threads or ${THREADS_ENV}) must be a positive integer, got {value!r}")
        torch.set_num_threads(n)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what deterministic cuBLAS needs
    torch.use_deterministic_algorithms(True, warn_only=True)


def seed_global(seed: int) -> None:
    """Seed torch's global random number generators (CPU and CUDA)."""
    torch.manual_seed(seed)


def generator(seed: int) -> torch.Generator:
    """A fresh CPU generator seeded with ``seed`` for index draws."""
    return torch.Generator().manual_seed(seed)

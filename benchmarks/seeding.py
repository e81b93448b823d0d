"""The seeding policy: every random draw of a run derives from the seeds in its configuration.

What is seeded, and where (nothing else calls ``torch.manual_seed``):
- ``seed_global(seed)``: torch's global generator (CPU and every CUDA device), which weight
  initialisation, dropout and kornia augmentations draw from. Called by ``run_method`` before a method
  runs (the distillation seed), by the trainer before it builds each model (the evaluation seed), by
  the teacher cache before a teacher trains, and by a method that must make its later draws
  independent of whether a cached piece was loaded or built (rded's crops, mtt's experts).
- ``generator(seed)``: a private ``torch.Generator`` for index draws (example order, subsets, base
  images), so they do not depend on how many numbers other code drew from the global generator.
The clock is never a seed.
"""

from __future__ import annotations

import torch


def seed_global(seed: int) -> None:
    """Seed torch's global random number generators (CPU and CUDA)."""
    torch.manual_seed(seed)


def generator(seed: int) -> torch.Generator:
    """A fresh CPU generator seeded with ``seed`` for index draws."""
    return torch.Generator().manual_seed(seed)

"""``random``: IPC real training images per class drawn uniformly with a seeded generator."""

from __future__ import annotations

import torch

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.methods import Budget, register_method
from benchmarks.seeding import generator
from benchmarks.selection import per_class


@register_method("random", description="IPC random real training images per class (seeded), true labels")
def random_subset(data: RealData, budget: Budget, seed: int, device: torch.device) -> DistilledSet:
    gen = generator(seed)
    return per_class(data, budget.ipc, lambda c, idx: idx[torch.randperm(len(idx), generator=gen)])

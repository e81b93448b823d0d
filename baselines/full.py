"""``full``: the whole train split with true labels, the reference row of every leaderboard."""

from __future__ import annotations

import torch

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.methods import Budget, register_method


@register_method("full", uses_ipc=False, description="the whole train split with true labels (reference)")
def full(data: RealData, budget: Budget, seed: int, device: torch.device) -> DistilledSet:
    return DistilledSet(images=data.train_x, labels=data.train_y, label_kind="hard", num_classes=data.num_classes)

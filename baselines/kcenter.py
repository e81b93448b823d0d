"""``kcenter``: greedy k-center (Sener & Savarese 2018) per class in a trained network's feature space."""

from __future__ import annotations

import torch

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.methods import Budget, register_method
from benchmarks.selection import feature_coreset, kcenter


@register_method("kcenter", description="per-class greedy k-center in a trained network's feature space",
                 smoke={"feature_steps": 20, "feature_model": "convnet3_w32"},
                 feature_model="convnet3", feature_steps=200)
def kcenter_method(data: RealData, budget: Budget, seed: int, device: torch.device, feature_model: str,
                   feature_steps: int) -> DistilledSet:
    return feature_coreset(data, budget.ipc, kcenter, feature_model, feature_steps, seed, device)

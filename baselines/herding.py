"""``herding``: per-class herding (Welling 2009) in the feature space of a trained network."""

from __future__ import annotations

import torch

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.methods import Budget, register_method
from benchmarks.selection import feature_coreset, herd


@register_method("herding", description="per-class herding in a trained network's feature space",
                 smoke={"feature_steps": 20, "feature_model": "convnet3_w32"},
                 feature_model="convnet3", feature_steps=200)
def herding(data: RealData, budget: Budget, seed: int, device: torch.device, feature_model: str,
            feature_steps: int) -> DistilledSet:
    return feature_coreset(data, budget.ipc, herd, feature_model, feature_steps, seed, device)

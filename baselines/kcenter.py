"""``kcenter``: greedy k-center (Sener & Savarese 2018) per class in a trained network's feature space."""

from __future__ import annotations

import torch
from torch import Tensor

from baselines.herding import feature_coreset
from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.methods import Budget, register_method


def kcenter(features: Tensor, k: int) -> Tensor:
    """Greedy k-center: start at the point nearest the mean, then repeatedly add the point farthest
    from everything chosen so far (a 2-approximation of the minimax cover)."""
    first = int((features - features.mean(0)).norm(dim=1).argmin())
    chosen = [first]
    dist = (features - features[first]).norm(dim=1)
    for _ in range(1, k):
        i = int(dist.argmax())
        chosen.append(i)
        dist = torch.minimum(dist, (features - features[i]).norm(dim=1))
    return torch.tensor(chosen, dtype=torch.long)


@register_method("kcenter", description="per-class greedy k-center in a trained network's feature space",
                 feature_model="convnet3", feature_steps=200)
def kcenter_method(data: RealData, budget: Budget, seed: int, device: torch.device, feature_model: str,
                   feature_steps: int) -> DistilledSet:
    return feature_coreset(data, budget.ipc, kcenter, feature_model, feature_steps, seed, device)

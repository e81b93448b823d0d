"""``herding``: per-class herding (Welling 2009) in the feature space of a trained network.

The embedder is a fresh ``feature_model`` trained on the train split for ``feature_steps`` steps
by the shared evaluator's trainer (so its recipe is the evaluator's), then each class greedily
picks the images whose running feature mean stays closest to the class mean.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from baselines.selection import per_class
from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.evaluator import EvalConfig, train
from benchmarks.methods import Budget, register_method


def embed(model: nn.Module, data: RealData, x: Tensor, device: torch.device, batch: int = 1024) -> Tensor:
    """Penultimate (pre-logits) features of ``x`` under ``model``."""
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            f = model.forward_features(data.normalize(x[i : i + batch].to(device)))
            out.append(model.forward_head(f, pre_logits=True).flatten(1).float().cpu())
    return torch.cat(out)


def herd(features: Tensor, k: int) -> Tensor:
    """Greedy herding: indices (into ``features``) of k points whose mean tracks the full mean."""
    mu = features.mean(0)
    chosen: list[int] = []
    total = torch.zeros_like(mu)
    available = torch.ones(len(features), dtype=torch.bool)
    for j in range(k):
        cand = (total.unsqueeze(0) + features) / (j + 1)
        dist = (cand - mu).norm(dim=1)
        dist[~available] = float("inf")
        i = int(dist.argmin())
        chosen.append(i)
        available[i] = False
        total += features[i]
    return torch.tensor(chosen, dtype=torch.long)


def trained_embedder(data: RealData, model: str, steps: int, seed: int, device: torch.device) -> nn.Module:
    """A ``model`` trained on the real train split with the evaluator's default recipe."""
    full = DistilledSet(data.train_x, data.train_y, "hard", data.num_classes)
    cfg = EvalConfig(model=model, optimizer="adam", steps=steps, batch_size=128, seed=seed)
    return train(full, data, cfg, cfg.base_lr(), device).model


def feature_coreset(data: RealData, ipc: int, pick, feature_model: str, feature_steps: int, seed: int,
                    device: torch.device) -> DistilledSet:
    """Per-class ``pick(features, k)`` in the feature space of a trained ``feature_model``."""
    net = trained_embedder(data, feature_model, feature_steps, seed, device)
    feats = embed(net, data, data.train_x, device)
    ds = per_class(data, ipc, lambda c, idx: idx[pick(feats[idx], ipc)])
    ds.meta["embedder"] = {"model": feature_model, "steps": feature_steps}
    return ds


@register_method("herding", description="per-class herding in a trained network's feature space",
                 feature_model="convnet3", feature_steps=200)
def herding(data: RealData, budget: Budget, seed: int, device: torch.device, feature_model: str,
            feature_steps: int) -> DistilledSet:
    return feature_coreset(data, budget.ipc, herd, feature_model, feature_steps, seed, device)

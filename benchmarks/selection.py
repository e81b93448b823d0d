"""Selection primitives shared by the coreset baselines and label distillation's base examples:
per-class picking, embeddings in a trained network's feature space, herding and k-center.

The embedder is a fresh network trained on the train split by the shared trainer with a pinned
recipe (bf16, not compiled), so a coreset does not depend on the machine's precision policy.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.spec import EvalConfig
from benchmarks.training import train

Picker = Callable[[Tensor, int], Tensor]


def per_class(data: RealData, ipc: int, choose: Callable[[int, Tensor], Tensor]) -> DistilledSet:
    """Build a hard-label set from ``choose(class, indices_of_class) -> chosen indices`` per class."""
    picked = []
    for c in range(data.num_classes):
        idx = (data.train_y == c).nonzero().flatten()
        if len(idx) < ipc:
            raise ValueError(f"class {data.classes[c]!r} has only {len(idx)} training images, fewer than ipc={ipc}")
        picked.append(choose(c, idx)[:ipc])
    sel = torch.cat(picked)
    return DistilledSet(
        images=data.train_x[sel].clone(), labels=data.train_y[sel].clone(), label_kind="hard",
        num_classes=data.num_classes, meta={"train_indices": sel.tolist()},
    )


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
    """Greedy herding (Welling 2009): indices of k points whose running mean tracks the full mean."""
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


def kcenter(features: Tensor, k: int) -> Tensor:
    """Greedy k-center (Sener & Savarese 2018): start at the point nearest the mean, then repeatedly add the
    point farthest from everything chosen so far (a 2-approximation of the minimax cover)."""
    first = int((features - features.mean(0)).norm(dim=1).argmin())
    chosen = [first]
    dist = (features - features[first]).norm(dim=1)
    for _ in range(1, k):
        i = int(dist.argmax())
        chosen.append(i)
        dist = torch.minimum(dist, (features - features[i]).norm(dim=1))
    return torch.tensor(chosen, dtype=torch.long)


EMBEDDER_PRECISION = "bf16"  # pinned: the committed coresets were made with bf16 embedders on AVX512-BF16 CPUs


def trained_embedder(data: RealData, model: str, steps: int, seed: int, device: torch.device) -> nn.Module:
    """A ``model`` trained on the real train split (Adam, batch 128) with a pinned precision and no compiling."""
    full = DistilledSet(data.train_x, data.train_y, "hard", data.num_classes)
    cfg = EvalConfig(model=model, optimizer="adam", steps=steps, batch_size=128, seed=seed,
                     precision=EMBEDDER_PRECISION, compile=False)
    return train(full, data, cfg, cfg.base_lr(), device).model


# Features of the last few embedders, kept in the process: a suite distils one coreset per (ipc, seed) and
# method, and herding and k-center at every ipc share the embedder of a seed. The embedder is deterministic
# for its seed, so a hit returns exactly what training it again would. The key names the train split's
# storage (each distillation gets its own view of the dataset, over the same tensors); each entry holds that
# view, so the storage address is never reused while the entry lives.
FEATURE_CACHE_SIZE = 4
_FEATURES: OrderedDict[tuple[Any, ...], tuple[RealData, Tensor]] = OrderedDict()


def train_features(data: RealData, model: str, steps: int, seed: int, device: torch.device) -> Tensor:
    """Features of every training image under a freshly trained embedder (cached for the last few)."""
    key = (data.name, data.train_x.data_ptr(), tuple(data.train_x.shape), model, steps, seed, str(device))
    if key in _FEATURES:
        _FEATURES.move_to_end(key)
        return _FEATURES[key][1]
    feats = embed(trained_embedder(data, model, steps, seed, device), data, data.train_x, device)
    _FEATURES[key] = (data, feats)
    while len(_FEATURES) > FEATURE_CACHE_SIZE:
        _FEATURES.popitem(last=False)
    return feats


def feature_coreset(data: RealData, ipc: int, pick: Picker, feature_model: str, feature_steps: int, seed: int,
                    device: torch.device) -> DistilledSet:
    """Per-class ``pick(features, k)`` in the feature space of a trained ``feature_model``."""
    feats = train_features(data, feature_model, feature_steps, seed, device)
    ds = per_class(data, ipc, lambda c, idx: idx[pick(feats[idx], ipc)])
    ds.meta["embedder"] = {"model": feature_model, "steps": feature_steps, "precision": EMBEDDER_PRECISION}
    return ds

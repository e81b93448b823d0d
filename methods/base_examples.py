"""How label distillation picks its real base examples (the paper leaves this open).

``balanced``: the same number of random images from every class (the paper's default);
``unbalanced``: N random images from the whole train split, whatever their classes; ``herding``
and ``kcenter``: a per-class coreset in the feature space of a network trained on the train split.
Base images may come from another dataset than the target (``to_target`` reconciles size and
channels), as in the paper's EMNIST-letters -> KMNIST example.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.data import RealData
from benchmarks.errors import UserError, suggest
from benchmarks.seeding import generator
from benchmarks.selection import herd, kcenter, train_features


def _per_class_counts(n: int, k: int) -> list[int]:
    return [n // k + (1 if c < n % k else 0) for c in range(k)]


def _balanced(data: RealData, n: int, seed: int, device: torch.device) -> Tensor:
    gen = generator(seed)
    out = []
    for c, m in enumerate(_per_class_counts(n, data.num_classes)):
        idx = (data.train_y == c).nonzero().flatten()
        out.append(idx[torch.randperm(len(idx), generator=gen)[:m]])
    return torch.cat(out)


def _unbalanced(data: RealData, n: int, seed: int, device: torch.device) -> Tensor:
    gen = generator(seed)
    return torch.randperm(len(data.train_y), generator=gen)[:n].sort().values


def _coreset(pick: Callable[[Tensor, int], Tensor]) -> Callable[[RealData, int, int, torch.device], Tensor]:
    def select(data: RealData, n: int, seed: int, device: torch.device) -> Tensor:
        feats = train_features(data, "convnet3", 200, seed, device)
        out = []
        for c, m in enumerate(_per_class_counts(n, data.num_classes)):
            idx = (data.train_y == c).nonzero().flatten()
            out.append(idx[pick(feats[idx], m)])
        return torch.cat(out)

    return select


STRATEGIES: dict[str, Callable[[RealData, int, int, torch.device], Tensor]] = {
    "balanced": _balanced,
    "unbalanced": _unbalanced,
    "herding": _coreset(herd),
    "kcenter": _coreset(kcenter),
}


def select_base(data: RealData, n: int, strategy: str, seed: int, device: torch.device) -> Tensor:
    """Indices into ``data.train_x`` of ``n`` base examples."""
    if strategy not in STRATEGIES:
        raise UserError(f"unknown base selection {strategy!r}{suggest(strategy, STRATEGIES)}; "
                        f"use one of {sorted(STRATEGIES)}")
    if n < 1:
        raise UserError("label distillation needs at least one base example")
    return STRATEGIES[strategy](data, n, seed, device)


def to_target(images: Tensor, target: RealData) -> Tensor:
    """Base images ([0, 1]) resized and channel-converted to the target dataset's format."""
    if images.shape[1] != target.channels:
        images = images.mean(1, keepdim=True) if target.channels == 1 else images.expand(-1, target.channels, -1, -1)
    if images.shape[-1] != target.size:
        images = F.interpolate(images, size=(target.size, target.size), mode="bilinear", align_corners=False)
    return images.clamp(0, 1).contiguous()

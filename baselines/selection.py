"""Shared pieces of the coreset baselines: per-class index selection into a hard-label artifact."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData


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

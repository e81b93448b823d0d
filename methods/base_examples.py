"""How label distillation picks its real base examples (the paper leaves this open).

``balanced``: IPC random images per class (the paper's default); ``unbalanced``: N random images
from the whole train split, whatever their classes; ``herding`` and ``kcenter``: a coreset in the
feature space of a network trained on the train split.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from baselines.herding import embed, herd, trained_embedder
from baselines.kcenter import kcenter
from benchmarks.data import RealData
from benchmarks.errors import UserError


def _balanced(data: RealData, ipc: int, seed: int, device: torch.device) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for c in range(data.num_classes):
        idx = (data.train_y == c).nonzero().flatten()
        out.append(idx[torch.randperm(len(idx), generator=gen)[:ipc]])
    return torch.cat(out)


def _unbalanced(data: RealData, ipc: int, seed: int, device: torch.device) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(len(data.train_y), generator=gen)[: ipc * data.num_classes].sort().values


def _coreset(pick: Callable[[Tensor, int], Tensor]) -> Callable[[RealData, int, int, torch.device], Tensor]:
    def select(data: RealData, ipc: int, seed: int, device: torch.device) -> Tensor:
        feats = embed(trained_embedder(data, "convnet3", 200, seed, device), data, data.train_x, device)
        out = []
        for c in range(data.num_classes):
            idx = (data.train_y == c).nonzero().flatten()
            out.append(idx[pick(feats[idx], ipc)])
        return torch.cat(out)

    return select


STRATEGIES: dict[str, Callable[[RealData, int, int, torch.device], Tensor]] = {
    "balanced": _balanced,
    "unbalanced": _unbalanced,
    "herding": _coreset(herd),
    "kcenter": _coreset(kcenter),
}


def select_base(data: RealData, ipc: int | None, strategy: str, seed: int, device: torch.device) -> Tensor:
    """Indices into ``data.train_x`` of the base examples."""
    if strategy not in STRATEGIES:
        from benchmarks.errors import suggest

        raise UserError(f"unknown base selection {strategy!r}{suggest(strategy, STRATEGIES)}; use one of {sorted(STRATEGIES)}")
    if not ipc:
        raise UserError("label distillation needs a budget of base examples per class (ipc)")
    return STRATEGIES[strategy](data, ipc, seed, device)

"""The label-distillation paper's baselines: LD's own base images with their true labels.

``base_true`` keeps the one-hot labels, ``base_smooth`` smooths them (0.1, the paper's label
smoothing baseline). Both pick the base images exactly as ``ld`` does for the same seed and
strategy, and choose the training length on the validation split from the paper's step grid,
so that ``steps_from_artifact`` evaluates them under LD's protocol.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.artifact import DistilledSet, TrainingHints
from benchmarks.data import RealData
from benchmarks.methods import Budget, register_method
from benchmarks.metrics import val_subset
from methods.base_examples import select_base
from methods.label_distillation import default_inner_batch, judge_labels

# The official code's validation grid of training lengths (to 1000 for N <= 100, to 1701 above).
STEP_GRID = [10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 700, 1000, 1300, 1701]


def true_label_baseline(data: RealData, budget: Budget, seed: int, device: torch.device, smoothing: float,
                        learner: str, base: str, step_grid: list[int], val_size: int) -> DistilledSet:
    """Base images with (smoothed) true labels; the step count is the best on validation."""
    n = (budget.ipc or 1) * data.num_classes
    idx = select_base(data, n, base, seed, device)
    images, true = data.train_x[idx].clone(), data.train_y[idx]
    probs = F.one_hot(true, data.num_classes).float() * (1 - smoothing) + smoothing / data.num_classes
    batch = min(default_inner_batch(n), n)
    vx, vy = val_subset(data, val_size)
    grid = sorted(int(s) for s in step_grid)
    scores = [(judge_labels(images, probs, data, learner, steps, batch, seed, device, vx, vy), steps) for steps in grid]
    best_val, best_steps = max(scores, key=lambda t: (t[0], -t[1]))
    labels, kind = (true.clone(), "hard") if smoothing == 0 else (probs, "soft")
    return DistilledSet(images, labels, kind, data.num_classes, meta={
        "base_indices": idx.tolist(), "base_selection": base, "label_smoothing": smoothing, "inner_batch": batch,
        "best_val_acc": round(best_val, 4), "selection": [[s, round(v, 4)] for v, s in scores],
    }, hints=TrainingHints(steps=best_steps))


COMMON: dict[str, Any] = dict(learner="lenet", base="balanced", step_grid=STEP_GRID, val_size=2000)
SMOKE: dict[str, Any] = {"val_size": 100, "step_grid": [5, 10]}  # seconds, for the parametrised tests


@register_method("base_true", label_kind="hard", **COMMON, smoke=SMOKE,
                 description="LD's base images with their true one-hot labels (the paper's baseline)")
def base_true(data: RealData, budget: Budget, seed: int, device: torch.device, **params: Any) -> DistilledSet:
    return true_label_baseline(data, budget, seed, device, 0.0, **params)


@register_method("base_smooth", label_kind="soft", smoothing=0.1, **COMMON, smoke=SMOKE,
                 description="LD's base images with label-smoothed true labels (the paper's baseline)")
def base_smooth(data: RealData, budget: Budget, seed: int, device: torch.device, smoothing: float,
                **params: Any) -> DistilledSet:
    return true_label_baseline(data, budget, seed, device, smoothing, **params)

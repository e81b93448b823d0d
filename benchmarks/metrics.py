"""Scoring helpers shared by the evaluator, teachers and methods: accuracy and the validation subset.

They live apart from training so that anything may score a model without importing the trainer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from benchmarks.data import RealData
from benchmarks.policy import EVAL_BATCH, OTHER_EVAL_BATCH
from benchmarks.seeding import generator


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """bf16 autocast when ``precision == "bf16"``, a no-op context otherwise."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@torch.inference_mode()
def accuracy(model: nn.Module, data: RealData, x: Tensor, y: Tensor, device: torch.device, precision: str,
             batch: int | None = None, predict: Callable[[Tensor], Tensor] | None = None) -> float:
    """Top-1 accuracy in percent of ``model`` (or its compiled ``predict``) on [0, 1] images, in inference mode."""
    batch = batch or EVAL_BATCH.get(device.type, OTHER_EVAL_BATCH)
    predict = model if predict is None else predict
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        xb = data.normalize(x[i : i + batch].to(device))
        with autocast(device, precision):
            correct += int((predict(xb).argmax(1).cpu() == y[i : i + batch]).sum())
    model.train()
    return 100.0 * correct / max(1, len(x))


def val_subset(data: RealData, size: int) -> tuple[Tensor, Tensor]:
    """A fixed (seed 0) subset of the validation split: the same images for every run that asks for ``size``."""
    if size >= len(data.val_y):
        return data.val_x, data.val_y
    idx = torch.randperm(len(data.val_y), generator=generator(0))[:size].sort().values
    return data.val_x[idx], data.val_y[idx]

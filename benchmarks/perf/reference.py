"""The field's standard evaluation loop, kept in-repo as the speed and accuracy baseline.

Semantics of DC/DSA/DM's ``evaluate_synset``: one model at a time, a DataLoader over the
(normalised) distilled set with batch 256 and shuffling, SGD lr 0.01 momentum 0.9 weight decay
5e-4 on every parameter, ``epochs`` epochs with lr x0.1 and a fresh optimizer at half way,
cross-entropy, fp32; then the whole test set through a DataLoader, batch 256.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.models import build_model


def reference_steps(n_images: int, epochs: int = 300, batch: int = 256) -> int:
    """Optimizer steps the reference loop takes: the budget ddbench is compared at."""
    return epochs * math.ceil(n_images / batch)


def reference_evaluate(ds: DistilledSet, data: RealData, model_name: str, seed: int, epochs: int = 300,
                       batch: int = 256, lr: float = 0.01) -> dict[str, Any]:
    """Train and test one model the standard way on the CPU; test accuracy and wall times."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    model, _ = build_model(model_name, data.num_classes, data.channels, data.size)
    train_set = TensorDataset(data.normalize(ds.images), ds.labels)
    loader = DataLoader(train_set, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(seed))
    model.train()
    for epoch in range(epochs):
        if epoch in (0, epochs // 2):
            opt = torch.optim.SGD(model.parameters(), lr=lr if epoch == 0 else lr * 0.1, momentum=0.9,
                                  weight_decay=5e-4)
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    train_s = time.perf_counter() - start
    model.eval()
    correct = 0
    test = DataLoader(TensorDataset(data.normalize(data.test_x), data.test_y), batch_size=256)
    with torch.no_grad():
        for xb, yb in test:
            correct += int((model(xb).argmax(1) == yb).sum())
    wall = time.perf_counter() - start
    return {"test_acc": 100.0 * correct / len(data.test_y), "wall_s": wall, "train_s": train_s,
            "test_s": wall - train_s}

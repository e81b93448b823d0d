"""Small pieces every writer needs: labels in the forms other codebases read, and atomic saves."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from benchmarks.artifact import DistilledSet

LOG_FLOOR = 1e-12  # smallest probability kept when a distribution is written as logits


def logits_of(probs: Tensor) -> Tensor:
    """Centred log-probabilities: logits whose softmax gives ``probs`` back (to float precision)."""
    logp = torch.log(probs.double().clamp_min(LOG_FLOOR))
    return (logp - logp.mean(1, keepdim=True)).float().contiguous()


def class_ids(ds: DistilledSet) -> Tensor:
    """Each image's class id: the stored id, or for soft labels the most probable class."""
    return (ds.labels.argmax(1) if ds.label_kind == "soft" else ds.labels).long().contiguous()


def labels_for_torch_formats(ds: DistilledSet) -> tuple[Tensor, str]:
    """Hard ids as int64 [N]; soft labels as logits [N, K], the form DATM and DD-Ranking store."""
    if ds.label_kind == "soft":
        return logits_of(ds.labels), "soft labels as centred log-probabilities (logits) [N, K], float32"
    return class_ids(ds), "class ids [N], int64"


def lr_value(ds: DistilledSet) -> Tensor | None:
    """The artifact's learned learning rate as a 0-d float32 tensor (DATM's ``lr_best.pt``), if it has one."""
    return None if ds.hints.lr is None else torch.tensor(ds.hints.lr, dtype=torch.float32)


def save_torch(obj: Any, path: Path) -> Path:
    """``torch.save`` to a temporary name, then rename: never a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def slug(text: str) -> str:
    """A file-name-safe form of a method or dataset name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "set"

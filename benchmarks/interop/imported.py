"""Assemble the ddbench artifact an import produces, recording where it came from and what was undone."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from benchmarks.artifact import DistilledSet, TrainingHints
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.interop.checks import ipc_of
from benchmarks.interop.safe_load import load_torch, sha256


@dataclass
class Parts:
    """What a reader found: [0, 1] images, labels, and facts about how they were stored."""

    images: Tensor
    labels: Tensor
    label_kind: str
    files: list[Path]
    pixels: dict[str, Any]
    labels_info: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    roots: list[Path] = field(default_factory=list)  # folders read whole (not hashed file by file)


def stored_lr(value: Any, path: Path) -> float:
    """A learning rate saved as a number or a one-element tensor (DATM's ``lr_best.pt``)."""
    if isinstance(value, Tensor) and value.numel() == 1 and value.is_floating_point():
        lr = float(value.reshape(-1)[0])
    elif isinstance(value, float | int) and not isinstance(value, bool):
        lr = float(value)
    else:
        raise UserError(f"{path} should hold one learning rate (a number), not a {type(value).__name__}")
    if not lr > 0:
        raise UserError(f"{path} holds learning rate {lr}; it must be positive")
    return lr


def optional_lr(path: Path, files: list[Path]) -> float | None:
    """The learning rate stored at ``path`` if that file exists (added to ``files``), else None."""
    if not path.is_file():
        return None
    files.append(path)
    return stored_lr(load_torch(path), path)


def choose_lr(given: float | None, stored: float | None, stored_in: str | None) -> tuple[Tensor | None, dict[str, Any]]:
    """The lr option wins over a stored one; returns it (the artifact's ``hints.lr``) as a tensor, and its origin."""
    if given is not None:
        info: dict[str, Any] = {"value": given, "source": "option"}
        if stored is not None:
            info["stored_value_ignored"] = stored
        return torch.tensor([given], dtype=torch.float32), info
    if stored is not None:
        return torch.tensor([stored], dtype=torch.float32), {"value": stored, "source": stored_in}
    return None, {}


def build_set(fmt: str, data: RealData, parts: Parts, lr: tuple[Tensor | None, dict[str, Any]]) -> DistilledSet:
    """A ``DistilledSet`` with the meta every ddbench artifact carries plus an ``imported`` record."""
    lr_tensor, lr_info = lr
    imported: dict[str, Any] = {
        "format": fmt,
        "files": [{"name": p.name, "sha256": sha256(p)} for p in parts.files],
        "pixels": parts.pixels,
        "labels": parts.labels_info,
        **parts.extra,
    }
    if lr_info:
        imported["lr"] = lr_info
    meta = {
        "method": f"import:{fmt}",
        "params": {},
        "dataset": data.name,
        "classes": list(data.classes),
        "ipc": ipc_of(parts.labels, parts.label_kind, data.num_classes),
        "seed": None,
        "imported": imported,
        "provenance": {"imported_from": [str(p.resolve()) for p in [*parts.roots, *parts.files]]},
    }
    hints = TrainingHints(lr=float(lr_tensor.reshape(-1)[0])) if lr_tensor is not None else TrainingHints()
    return DistilledSet(parts.images, parts.labels, parts.label_kind, data.num_classes, meta=meta, hints=hints)

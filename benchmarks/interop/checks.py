"""Check released tensors against the dataset they claim to be for, saying exactly what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.data import RealData
from benchmarks.errors import UserError

SUM_TOLERANCE = 1e-4  # DistilledSet's own tolerance for a distribution's row sum


def check_images(x: Any, data: RealData, what: str) -> Tensor:
    """A finite float [N, C, H, W] tensor with the dataset's channels and size, as float32."""
    if not isinstance(x, Tensor):
        raise UserError(f"{what} holds a {type(x).__name__}, expected an image tensor [N, C, H, W]")
    if x.ndim != 4:
        raise UserError(f"{what} has shape {tuple(x.shape)}, expected images [N, C, H, W]")
    if not x.is_floating_point():
        raise UserError(f"{what} holds {x.dtype} values, expected floats")
    if len(x) == 0:
        raise UserError(f"{what} holds no images")
    n, c, h, w = x.shape
    if c != data.channels:
        raise UserError(f"{what} has {c} channel(s) but {data.name} has {data.channels}")
    if (h, w) != (data.size, data.size):
        raise UserError(f"{what} holds {h}x{w} images but {data.name} is {data.size}x{data.size}")
    if not torch.isfinite(x).all():
        raise UserError(f"{what} holds NaN or infinite values")
    return x.detach().float().contiguous()


def check_hard_labels(y: Tensor, data: RealData, n: int, what: str) -> Tensor:
    """Integer class ids [n] within the dataset's classes, as int64."""
    if y.ndim != 1 or len(y) != n:
        raise UserError(f"{what} has shape {tuple(y.shape)}, expected {n} class ids (one per image)")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise UserError(f"{what} holds {y.dtype} values, expected integer class ids")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= data.num_classes:
        raise UserError(f"{what} holds class ids {lo}..{hi} but {data.name} has {data.num_classes} classes (0..{data.num_classes - 1})")
    return y.long().contiguous()


def _is_distribution(p: Tensor) -> bool:
    return bool((p >= 0).all()) and bool(torch.allclose(p.sum(1), torch.ones(len(p), dtype=p.dtype), atol=SUM_TOLERANCE))


def _probs(y: Tensor, what: str) -> Tensor:
    if not _is_distribution(y):
        worst = int((y.sum(1) - 1).abs().argmax())
        raise UserError(f"{what} is read as probabilities but row {worst} has min {float(y[worst].min()):.4g} "
                        f"and sums to {float(y[worst].sum()):.6g}; rows must be non-negative and sum to 1")
    return y


def _logits(y: Tensor, what: str) -> Tensor:
    return F.softmax(y.double(), dim=1).float()


def _auto(y: Tensor, what: str) -> Tensor:
    return y if _is_distribution(y) else _logits(y, what)


SOFT_READERS: dict[str, Callable[[Tensor, str], Tensor]] = {"probs": _probs, "logits": _logits, "auto": _auto}


def read_soft_labels(y: Tensor, data: RealData, n: int, what: str, kind: str) -> tuple[Tensor, str]:
    """[n, K] probabilities or logits -> probabilities, and which of the two the file held.

    ``kind="auto"`` reads rows that are non-negative and sum to 1 (within 1e-4) as probabilities and
    anything else as logits (softmax at temperature 1)."""
    if y.ndim != 2 or len(y) != n:
        raise UserError(f"{what} has shape {tuple(y.shape)}, expected [{n}, {data.num_classes}] (one row per image)")
    if y.shape[1] != data.num_classes:
        raise UserError(f"{what} has {y.shape[1]} classes per row but {data.name} has {data.num_classes}")
    if not y.is_floating_point():
        raise UserError(f"{what} holds {y.dtype} values, expected floats")
    if not torch.isfinite(y).all():
        raise UserError(f"{what} holds NaN or infinite values")
    y = y.detach().float()
    probs = SOFT_READERS[kind](y, what)
    held = "probs" if probs is y else "logits"  # the readers return the input itself when it already was probabilities
    return probs.contiguous(), held


def read_labels(y: Any, data: RealData, n: int, what: str, kind: str) -> tuple[Tensor, str, dict[str, Any]]:
    """Class ids [n] or soft labels [n, K] -> (labels, DistilledSet label kind, facts for the meta)."""
    if not isinstance(y, Tensor):
        raise UserError(f"{what} holds a {type(y).__name__}, expected a label tensor")
    if y.ndim == 2:
        probs, held = read_soft_labels(y, data, n, what, kind)
        return probs, "soft", {"kind": "soft", "stored_as": held}
    return check_hard_labels(y, data, n, what), "hard", {"kind": "hard"}


def ipc_of(labels: Tensor, label_kind: str, num_classes: int) -> int | None:
    """Images per class when every class has the same count (soft labels: by argmax), else None."""
    ids = labels.argmax(1) if label_kind == "soft" else labels
    counts = torch.bincount(ids, minlength=num_classes)
    return int(counts[0]) if bool((counts == counts[0]).all()) and int(counts[0]) > 0 else None

"""Loss registry. Every loss takes the student's logits and a ``Targets`` batch.

Targets always carry a probability distribution per example (one-hot for hard labels); the true
class ids and a teacher's raw logits travel with it when known, so losses such as GIFT's can use them.
Temperature convention: ``kl`` does NOT multiply by T^2 (as RDED, SRe2L and GIFT's evaluators do);
pass ``t2=true`` to get Hinton's scaling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.errors import UserError
from benchmarks.registry import Registry


@dataclass(frozen=True)
class Targets:
    """What a loss may use: target distributions [B, K], and, when known, true ids and teacher logits."""

    probs: Tensor
    hard: Tensor | None = None
    logits: Tensor | None = None


LossFn = Callable[..., Tensor]


@dataclass(frozen=True)
class LossEntry:
    fn: LossFn
    params: dict[str, Any]
    description: str


LOSSES: Registry[LossEntry] = Registry("loss")


def _ce(z: Tensor, t: Targets, label_smoothing: float = 0.0) -> Tensor:
    hard = t.hard if t.hard is not None else t.probs.argmax(1)
    return F.cross_entropy(z, hard, label_smoothing=label_smoothing)


def soft_cross_entropy(logits: Tensor, probs: Tensor) -> Tensor:
    """Mean over the batch of -sum_k p_k log softmax(z)_k."""
    return -(probs * F.log_softmax(logits, 1)).sum(1).mean()


def _soft_ce(z: Tensor, t: Targets) -> Tensor:
    return soft_cross_entropy(z, t.probs)


def _kl(z: Tensor, t: Targets, T: float = 1.0, t2: bool = False) -> Tensor:
    target = F.softmax(t.logits / T, 1) if t.logits is not None else t.probs
    if t.logits is None and T != 1.0:
        # Sharpen or soften a stored distribution with the same temperature.
        target = F.softmax(torch.log(t.probs.clamp_min(1e-12)) / T, 1)
    loss = F.kl_div(F.log_softmax(z / T, 1), target, reduction="batchmean")
    return loss * (T * T) if t2 else loss


def _mse(z: Tensor, t: Targets) -> Tensor:
    return F.mse_loss(F.softmax(z, 1), t.probs)


LOSSES.register("ce", LossEntry(_ce, {"label_smoothing": 0.0},
                                "cross-entropy on hard labels (argmax of soft ones), optional label smoothing"))
LOSSES.register("soft_ce", LossEntry(_soft_ce, {}, "cross-entropy against the target distribution"))
LOSSES.register("kl", LossEntry(_kl, {"T": 1.0, "t2": False}, "KL(target_T || student_T); no T^2 unless t2=true"))
LOSSES.register("mse", LossEntry(_mse, {}, "mean squared error between softmax(student) and the target"))


@dataclass(frozen=True)
class LossSpec:
    """A registered loss with its resolved parameters (what the record stores)."""

    name: str
    params: dict[str, Any]

    def __call__(self, logits: Tensor, targets: Targets) -> Tensor:
        return LOSSES.get(self.name).fn(logits, targets, **self.params)


def resolve_loss(spec: str | dict[str, Any]) -> LossSpec:
    """Turn ``"kl"`` or ``{name = "kl", T = 4}`` into a LossSpec with all parameters filled in."""
    if isinstance(spec, str):
        spec = {"name": spec}
    spec = dict(spec)
    name = spec.pop("name", None)
    if not isinstance(name, str):
        raise UserError(f"a loss needs a name, got {spec!r}")
    entry = LOSSES.get(name)
    unknown = set(spec) - set(entry.params)
    if unknown:
        raise UserError(f"loss {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(entry.params) or 'none'}")
    return LossSpec(name, {**entry.params, **spec})

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
from benchmarks.validate import check_params


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


LOSSES: Registry[LossEntry] = Registry("loss", plural="losses")


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


def teacher_logits(t: Targets) -> Tensor:
    """The teacher's raw logits; for a stored distribution, its centred log-probabilities (floor 1e-4),
    the logits that give it back under a softmax, so logit-space losses work on static labels too."""
    if t.logits is not None:
        return t.logits
    logp = torch.log(t.probs.clamp_min(1e-4))
    return logp - logp.mean(1, keepdim=True)


def true_class(t: Targets) -> Tensor:
    return t.hard if t.hard is not None else t.probs.argmax(1)


def smoothed_one_hot(hard: Tensor, num_classes: int, alpha: float) -> Tensor:
    """1 - alpha on the true class and alpha / (C - 1) on each other class (GIFT's smoothing)."""
    y = torch.full((len(hard), num_classes), alpha / max(1, num_classes - 1), device=hard.device)
    return y.scatter_(1, hard.unsqueeze(1), 1.0 - alpha)


def _cosine(z: Tensor, t: Targets) -> Tensor:
    return 1.0 - F.cosine_similarity(z, teacher_logits(t), dim=1).mean()


def _gift(z: Tensor, t: Targets, alpha: float = 0.1, w: float = 0.1) -> Tensor:
    """GIFT (Shang et al. 2024): target = unit(teacher logits) + w * unit(smoothed one-hot);
    loss = 1 - cos(student logits, target). Scale-free in the student's logits."""
    teacher = teacher_logits(t)
    ys = smoothed_one_hot(true_class(t), z.shape[1], alpha)
    target = F.normalize(teacher, dim=1) + w * F.normalize(ys, dim=1)
    return 1.0 - F.cosine_similarity(z, target, dim=1).mean()


def _mse_ce(z: Tensor, t: Targets, ce_weight: float = 0.1) -> Tensor:
    """G-VBSM's loss: MSE between student and teacher logits + ce_weight * hard-label CE."""
    return F.mse_loss(z, teacher_logits(t)) + ce_weight * F.cross_entropy(z, true_class(t))


LOSSES.register("ce", LossEntry(_ce, {"label_smoothing": 0.0},
                                "cross-entropy on hard labels (argmax of soft ones), optional label smoothing"))
LOSSES.register("soft_ce", LossEntry(_soft_ce, {}, "cross-entropy against the target distribution"))
LOSSES.register("kl", LossEntry(_kl, {"T": 1.0, "t2": False}, "KL(target_T || student_T); no T^2 unless t2=true"))
LOSSES.register("mse", LossEntry(_mse, {}, "mean squared error between softmax(student) and the target"))
LOSSES.register("mse_ce", LossEntry(_mse_ce, {"ce_weight": 0.1}, "MSE to the teacher's logits + 0.1 x hard CE (G-VBSM)"))
LOSSES.register("cosine", LossEntry(_cosine, {}, "1 - cos(student logits, teacher logits), no refinement"))
LOSSES.register("gift", LossEntry(_gift, {"alpha": 0.1, "w": 0.1},
                                  "GIFT: 1 - cos(student logits, unit(teacher logits) + w unit(smoothed one-hot))"))


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
    check_params(spec, entry.params, f"loss {name!r}")
    return LossSpec(name, {**entry.params, **spec})

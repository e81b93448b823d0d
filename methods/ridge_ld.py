"""``ld_rr``: first-order label distillation with a ridge-regression head (Bohdal et al. 2020, RR).

The learner's last layer is ridge regression solved in closed form on the base examples' features
with the current labels; the target-batch cross-entropy reaches the labels through that solution,
with no unrolling. Two interchangeable solvers solve the same problem: ``analytic`` (torch.linalg,
kernel form) and ``cvxpy`` (a cvxpylayers convex optimisation layer; general but ~1000x slower).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks import checkpoint
from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.methods import Budget, register_method
from methods.label_distillation import LD_DEFAULTS, LD_SMOKE, LDSettings, distill_labels, soft_ce


def ridge_analytic(x: Tensor, y: Tensor, lam: float) -> Tensor:
    """argmin_W |XW - Y|^2 + lam |W|^2 = X^T (X X^T + lam I)^-1 Y (n x n system, n <= d here)."""
    gram = x @ x.T + lam * torch.eye(len(x), device=x.device, dtype=x.dtype)
    return x.T @ torch.linalg.solve(gram, y)


@lru_cache(maxsize=8)
def _ridge_layer(n: int, d: int, k: int, lam: float):
    import cvxpy as cp
    from cvxpylayers.torch import CvxpyLayer

    X, Y = cp.Parameter((n, d)), cp.Parameter((n, k))
    W = cp.Variable((d, k))
    problem = cp.Problem(cp.Minimize(cp.sum_squares(X @ W - Y) + lam * cp.sum_squares(W)))
    return CvxpyLayer(problem, parameters=[X, Y], variables=[W])


def ridge_cvxpy(x: Tensor, y: Tensor, lam: float) -> Tensor:
    """The same ridge problem through a differentiable convex optimisation layer (cvxpylayers)."""
    layer = _ridge_layer(x.shape[0], x.shape[1], y.shape[1], float(lam))
    (w,) = layer(x.double().cpu(), y.double().cpu(), solver_args={"eps": 1e-10})
    return w.to(device=x.device, dtype=x.dtype)


SOLVERS: dict[str, Callable[[Tensor, Tensor, float], Tensor]] = {"analytic": ridge_analytic, "cvxpy": ridge_cvxpy}


def features(model: nn.Module, x: Tensor) -> Tensor:
    """Pre-logit features with a constant 1 appended (the ridge bias)."""
    f = model.forward_head(model.forward_features(x), pre_logits=True).flatten(1)
    return torch.cat([f, torch.ones(len(f), 1, device=f.device, dtype=f.dtype)], 1)


@dataclass
class RidgeHead:
    """Feature extractor + global ridge weights W (pseudo-gradient averaged) + learned scale s."""

    make: Callable[[], nn.Module]
    solver: Callable[[Tensor, Tensor, float], Tensor]
    lam: float
    lr: float
    model: nn.Module = field(init=False)
    w: Tensor | None = field(init=False, default=None)
    scale: Tensor = field(init=False)
    opt: torch.optim.Optimizer = field(init=False)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.model = self.make()
        self.w = None
        self.scale = torch.ones((), requires_grad=True, device=next(self.model.parameters()).device)
        self.opt = torch.optim.Adam([{"params": self.model.parameters()}, {"params": [self.scale], "lr": 0.01}],
                                    lr=self.lr)

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """The feature extractor, the averaged ridge weights, the scale and their Adam state, to resume from."""
        tensors, rest = checkpoint.optimizer_state("opt", self.opt)
        own = {"scale": self.scale, **({"w": self.w} if self.w is not None else {})}
        return {**checkpoint.module_state("model", self.model), **own, **tensors}, {"opt": rest}

    def load_state(self, tensors: dict[str, Tensor], info: dict[str, Any]) -> None:
        checkpoint.load_module_state("model", self.model, tensors)
        with torch.no_grad():
            self.scale.copy_(tensors["scale"])
        self.w = tensors["w"].clone() if "w" in tensors else None
        checkpoint.load_optimizer_state("opt", self.opt, tensors, info["opt"])

    def label_gradient(self, labels: Tensor, xb: Tensor, batches: list[Tensor], xt: Tensor,
                       yt: Tensor) -> tuple[Tensor, Tensor]:
        b = batches[0]
        with torch.no_grad():
            fb, ft = features(self.model, xb[b]), features(self.model, xt)
        w_local = self.solver(fb, labels[b], self.lam)
        outer = F.cross_entropy(self.scale.detach() * (ft @ w_local), yt)
        (grad,) = torch.autograd.grad(outer, labels)
        with torch.no_grad():
            w = w_local.detach()
            self.w = w if self.w is None else 0.99 * self.w + 0.01 * w
        return outer.detach(), grad

    def learner_update(self, xb: Tensor, batch: Tensor, labels: Tensor, xt: Tensor, yt: Tensor) -> float:
        assert self.w is not None
        logits = self.scale * (features(self.model, xb[batch]) @ self.w)
        loss = soft_ce(logits, labels[batch])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            return float(((features(self.model, xt) @ self.w).argmax(1) != yt).float().mean())


@register_method("ld_rr", label_kind="soft", smoke=LD_SMOKE, solver="analytic", ridge_lambda=1.0, model_lr=1e-3, **LD_DEFAULTS,
                 description="label distillation, first order: ridge-regression head solved in closed form")
def ridge_label_distillation(data: RealData, budget: Budget, seed: int, device: torch.device, solver: str,
                             ridge_lambda: float, model_lr: float, **settings: Any) -> DistilledSet:
    if solver not in SOLVERS:
        raise UserError(f"unknown ridge solver {solver!r}; use one of {sorted(SOLVERS)}")
    return distill_labels(data, budget, seed, device, LDSettings(**settings),
                          lambda make: RidgeHead(make, SOLVERS[solver], ridge_lambda, model_lr))

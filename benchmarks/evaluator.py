"""The one evaluator: train a fresh model on a DistilledSet for a fixed number of steps, then test it.

Data stay resident as tensors on the device (no DataLoader); minibatches are drawn as seeded
epoch-wise permutations; augmentation runs batched on the device before normalisation.
Selection (the lr grid) reads the validation split only; the test split is read once, at the
final step of the selected run. Every seed derives from ``EvalConfig.seed``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.artifact import DistilledSet
from benchmarks.augment import build_augmentation
from benchmarks.cost import count_flops, peak_memory_bytes, reset_peak_memory, timed
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.losses import LossSpec, Targets, resolve_loss
from benchmarks.models import build_model
from benchmarks.optim import OPTIMIZERS, build_optimizer, build_schedule

PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class EvalConfig:
    """Everything that defines one evaluation (with the artifact, it is the cell)."""

    model: str = "convnet3"
    optimizer: str = "momentum"
    lr: float | None = None  # None: the optimizer's registered default
    lr_grid: tuple[float, ...] = ()  # multipliers of lr tried and chosen on validation
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    loss: str | dict[str, Any] = "ce"
    augment: str = "none"
    steps: int = 300
    batch_size: int = 256
    seed: int = 0
    precision: str = "fp32"
    val_size: int = 2000  # a fixed subset of val used for selection and reporting
    eval_batch: int = 1024

    def resolved(self) -> dict[str, Any]:
        """The config with defaults filled in (lr, loss params): what a record stores and hashes."""
        d = asdict(self)
        d["lr"] = self.base_lr()
        d["lr_grid"] = list(self.lr_grid)
        d["loss"] = asdict(self.loss_spec())
        d.pop("eval_batch")
        return d

    def base_lr(self) -> float:
        return OPTIMIZERS.get(self.optimizer).lr if self.lr is None else float(self.lr)

    def loss_spec(self) -> LossSpec:
        return resolve_loss(self.loss)

    def check(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise UserError(f"steps and batch_size must be positive, got {self.steps} and {self.batch_size}")
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown precision {self.precision!r}; use one of {PRECISIONS}")
        if any(m <= 0 for m in self.lr_grid) or self.base_lr() <= 0:
            raise UserError("learning rates must be positive")
        OPTIMIZERS.get(self.optimizer)
        self.loss_spec()


@dataclass
class TrainResult:
    model: nn.Module
    final_loss: float
    diverged: bool
    adaptation: str
    flops_per_step: int = 0
    train_s: float = 0.0
    lr: float = 0.0
    history: list[float] = field(default_factory=list)


def _autocast(device: torch.device, precision: str):
    enabled = precision == "bf16"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _batches(n: int, batch: int, steps: int, gen: torch.Generator) -> list[Tensor]:
    """Index batches for ``steps`` updates: epoch-wise permutations, each example once per epoch."""
    out: list[Tensor] = []
    perm = torch.randperm(n, generator=gen)
    pos = 0
    for _ in range(steps):
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        out.append(perm[pos : pos + batch])
        pos += batch
    return out


def train(ds: DistilledSet, data: RealData, cfg: EvalConfig, lr: float, device: torch.device) -> TrainResult:
    """Train a freshly initialised ``cfg.model`` on ``ds`` for ``cfg.steps`` optimizer steps."""
    if ds.label_kind == "online":
        raise UserError("this artifact needs online relabelling by a teacher; this evaluator has no teacher support")
    if ds.num_classes != data.num_classes or tuple(ds.images.shape[1:]) != tuple(data.train_x.shape[1:]):
        raise UserError(
            f"artifact is for {ds.num_classes} classes of {tuple(ds.images.shape[1:])} images, "
            f"but {data.name} has {data.num_classes} classes of {tuple(data.train_x.shape[1:])}"
        )
    torch.manual_seed(cfg.seed)
    model, adaptation = build_model(cfg.model, data.num_classes, data.channels, data.size)
    model.to(device).train()
    opt = build_optimizer(model, cfg.optimizer, lr, cfg.weight_decay)
    sched = build_schedule(opt, cfg.schedule, cfg.steps)
    aug = build_augmentation(cfg.augment, data.channels, bool(data.info.get("hflip", False))).to(device)
    loss_fn = cfg.loss_spec()
    x = ds.images.to(device)
    probs = ds.soft_targets().to(device)
    hard = ds.labels.to(device) if ds.label_kind == "hard" else None
    gen = torch.Generator().manual_seed(cfg.seed)
    batches = _batches(len(x), min(cfg.batch_size, len(x)), cfg.steps, gen)

    def step(idx: Tensor) -> Tensor:
        xb = data.normalize(aug(x[idx]))
        with _autocast(device, cfg.precision):
            logits = model(xb)
        loss = loss_fn(logits.float(), Targets(probs[idx], None if hard is None else hard[idx]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        return loss

    flops = count_flops(lambda: step(batches[0]))  # counted on a throw-away step, then undone
    opt.zero_grad(set_to_none=True)
    history: list[float] = []
    diverged = False
    with timed(device) as t:
        for i, idx in enumerate(batches):
            loss = step(idx)
            opt.step()
            if sched is not None:
                sched.step_update(i + 1)
            if i % 50 == 0 or i == len(batches) - 1:
                history.append(float(loss.detach()))
                if not math.isfinite(history[-1]):
                    diverged = True
                    break
    return TrainResult(model, history[-1], diverged, adaptation, flops, t.seconds, lr, history)


@torch.inference_mode()
def accuracy(model: nn.Module, data: RealData, x: Tensor, y: Tensor, device: torch.device, precision: str,
             batch: int = 1024) -> float:
    """Top-1 accuracy in percent, in inference mode and large batches."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        xb = data.normalize(x[i : i + batch].to(device))
        with _autocast(device, precision):
            correct += int((model(xb).argmax(1).cpu() == y[i : i + batch]).sum())
    model.train()
    return 100.0 * correct / max(1, len(x))


def val_subset(data: RealData, size: int) -> tuple[Tensor, Tensor]:
    """A fixed (seed 0) subset of the validation split."""
    if size >= len(data.val_y):
        return data.val_x, data.val_y
    idx = torch.randperm(len(data.val_y), generator=torch.Generator().manual_seed(0))[:size].sort().values
    return data.val_x[idx], data.val_y[idx]


def evaluate(ds: DistilledSet, data: RealData, cfg: EvalConfig, device: torch.device) -> dict[str, Any]:
    """Train (selecting lr on validation when a grid is given) and test once; metrics and cost."""
    cfg.check()
    reset_peak_memory(device)
    vx, vy = val_subset(data, cfg.val_size)
    base = cfg.base_lr()
    grid = [base * m for m in cfg.lr_grid] or [base]
    best: tuple[float, TrainResult] | None = None
    tried: dict[str, float] = {}
    train_s = 0.0
    with timed(device) as total:
        for lr in grid:
            res = train(ds, data, cfg, lr, device)
            train_s += res.train_s
            val = accuracy(res.model, data, vx, vy, device, cfg.precision, cfg.eval_batch)
            tried[f"{lr:.6g}"] = round(val, 4)
            if best is None or val > best[0]:
                best = (val, res)
        assert best is not None
        val_acc, chosen = best
        with timed(device) as test_t:
            test_acc = accuracy(chosen.model, data, data.test_x, data.test_y, device, cfg.precision, cfg.eval_batch)
        probe = data.test_x[: min(cfg.eval_batch, len(data.test_x))].to(device)
        model = copy.deepcopy(chosen.model).eval()
        with torch.inference_mode():
            test_flops = count_flops(lambda: model(data.normalize(probe))) * len(data.test_x) // max(1, len(probe))
    n_train = cfg.steps * min(cfg.batch_size, len(ds.images)) * len(grid)
    train_flops = chosen.flops_per_step * cfg.steps * len(grid)
    return {
        "metrics": {
            "test_acc": round(test_acc, 4),
            "val_acc": round(val_acc, 4),
            "final_loss": round(chosen.final_loss, 6) if math.isfinite(chosen.final_loss) else None,
            "diverged": chosen.diverged,
            "lr": chosen.lr,
            "lr_val_acc": tried,
        },
        "cost": {
            "wall_s": round(total.seconds, 3),
            "train_s": round(train_s, 3),
            "test_s": round(test_t.seconds, 3),
            "flops": int(train_flops + test_flops),
            "train_flops": int(train_flops),
            "images_per_s": round(n_train / train_s, 1) if train_s > 0 else None,
            "peak_mem_bytes": peak_memory_bytes(device),
        },
        "adaptation": chosen.adaptation,
    }

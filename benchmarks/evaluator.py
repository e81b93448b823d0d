"""The one evaluator: train a fresh model on a DistilledSet for a fixed number of steps, then test it.

Data stay resident as tensors on the device (no DataLoader); minibatches are drawn as seeded
epoch-wise permutations; augmentation runs batched on the device before normalisation.
Selection (the lr grid) reads the validation split only; the test split is read once, at the
final step of the selected run. Every seed derives from ``EvalConfig.seed``.

Two training paths give the same record: ``train`` (one model) and ``train_stacked`` (K models,
e.g. K seeds, as one torch.func computation). Which one runs is decided by ``use_stacked``, from
measurements in ``reports/bench/``; bf16 autocast likewise (``precision="auto"``).
"""

from __future__ import annotations

import copy
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from benchmarks.artifact import DistilledSet
from benchmarks.augment import build_augmentation
from benchmarks.cost import bf16_supported, count_flops, matmul_peak_flops, peak_memory_bytes, reset_peak_memory, timed
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.losses import LossSpec, Targets, resolve_loss
from benchmarks.models import build_model
from benchmarks.optim import OPTIMIZERS, build_optimizer, build_schedule

PRECISIONS = ("auto", "fp32", "bf16")
# Where "auto" turns bf16 autocast on: hardware with fast bf16 (cost.bf16_supported), and only for
# architectures whose bf16 accuracy the benchmark (reports/bench/evaluator.json) found within 0.3
# points of fp32 at every measured budget: ConvNet-3 (-0.07, -0.05). LeNet (+0.42, -1.33) and
# test_resnet (-0.23, +0.51) missed the bar (n = 2, likely noise, but the bar is the bar): fp32.
BF16_BY_DEFAULT = {"cpu": True, "cuda": True}
BF16_VERIFIED = {"convnet3"}
# Where stacking K models into one torch.func computation pays (reports/bench/evaluator.json):
# on a 2-core CPU vmap'd convolutions ran slower than a loop, so the CPU trains one model at a time.
STACKED_BY_DEFAULT = {"cpu": False, "cuda": True}
# Forward/backward in chunks of this many images (gradients accumulated: the same update for
# batch-independent models) and test in batches of EVAL_BATCH: on a CPU, activations that stay
# in cache beat one large batch (measured in reports/bench/); GPUs take the whole batch at once.
MICRO_BATCH = {"cpu": 32}
# Chunking and compiling pay only for compute-heavy models; a LeNet step (~1 MFLOP an image) is
# dominated by per-call overheads, which both levers multiply (measured: LeNet ran 2-5x slower).
HEAVY_FLOPS_PER_IMAGE = 20e6
# torch.compile by default where it paid with its compile time counted (reports/bench/): on the
# CPU it roughly doubled ConvNet-3's training throughput; below this many training images per
# model the ~10-25 s of compiling (once per process and architecture) is not won back.
COMPILE_BY_DEFAULT = {"cpu": True}
COMPILE_MIN_IMAGES = 20_000
EVAL_BATCH = {"cpu": 64, "cuda": 1024}
FLOP_PROBE = 4  # FLOPs are linear in the batch: count them on this many images and scale


def resolve_compile(flag: bool | str, device: torch.device, images: int) -> bool:
    if flag != "auto":
        return bool(flag)
    return (COMPILE_BY_DEFAULT.get(device.type, False) and images >= COMPILE_MIN_IMAGES
            and shutil.which(os.environ.get("CXX", "g++")) is not None)


def resolve_precision(precision: str, device: torch.device, model: str = "") -> str:
    if precision != "auto":
        return precision
    ok = BF16_BY_DEFAULT.get(device.type, False) and model in BF16_VERIFIED and bf16_supported(device)
    return "bf16" if ok else "fp32"


# EvalConfig fields that a record's config carries only when they differ from these defaults.
OPTIONAL_FIELDS: dict[str, Any] = {"steps_offset": 0, "order_seed": None, "lr_from_artifact": False}


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
    precision: str = "auto"
    compile: bool | str = "auto"  # torch.compile the model; "auto": where the benchmark showed it pays
    val_size: int = 1000  # a fixed subset of val used for selection and reporting
    steps_from_artifact: bool = False  # train for the step count the method chose on validation, if it has one
    steps_offset: int = 0  # added to the step count (LD's robustness-to-training-length study)
    order_seed: int | None = None  # seeds the example order separately from the initialisation (None: seed)
    lr_from_artifact: bool = False  # train with the learning rate the method learned (MTT's), if it saved one

    def for_device(self, device: torch.device) -> EvalConfig:
        """The config with machine-dependent choices (``precision="auto"``) made for ``device``."""
        return replace(self, precision=resolve_precision(self.precision, device, self.model))

    def resolved(self) -> dict[str, Any]:
        """The config with defaults filled in (lr, loss params): what a record stores and hashes."""
        d = asdict(self)
        for k, default in OPTIONAL_FIELDS.items():  # added later: absent at their default so old keys hold
            if d[k] == default:
                del d[k]
        d["lr"] = self.base_lr()
        d["lr_grid"] = list(self.lr_grid)
        d["loss"] = asdict(self.loss_spec())
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
    stacked: int = 1  # how many models were trained in the same computation
    predict: Callable[[Tensor], Tensor] | None = None  # the (possibly compiled) forward to test with
    compiled: bool = False
    eval_batch: int | None = None  # None: the device's default


def _compiled(model: nn.Module) -> nn.Module:
    """torch.compile with room for the many architectures and shapes a suite runs in one process."""
    import torch._dynamo

    for knob in ("cache_size_limit", "recompile_limit"):
        if hasattr(torch._dynamo.config, knob):
            setattr(torch._dynamo.config, knob, max(64, getattr(torch._dynamo.config, knob)))
    return torch.compile(model)


def _autocast(device: torch.device, precision: str):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def _batches(n: int, batch: int, steps: int, gen: torch.Generator) -> Tensor:
    """Index batches [steps, batch]: epoch-wise permutations, each example once per epoch."""
    out = torch.empty(steps, batch, dtype=torch.long)
    perm = torch.randperm(n, generator=gen)
    pos = 0
    for s in range(steps):
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        out[s] = perm[pos : pos + batch]
        pos += batch
    return out


def _check_fit(ds: DistilledSet, data: RealData) -> None:
    if ds.num_classes != data.num_classes or tuple(ds.images.shape[1:]) != tuple(data.train_x.shape[1:]):
        raise UserError(
            f"artifact is for {ds.num_classes} classes of {tuple(ds.images.shape[1:])} images, "
            f"but {data.name} has {data.num_classes} classes of {tuple(data.train_x.shape[1:])}"
        )


@dataclass
class _Setup:
    """What one model's training needs, built identically for both paths."""

    model: nn.Module
    adaptation: str
    x: Tensor
    probs: Tensor
    hard: Tensor | None
    batches: Tensor
    teacher: Callable[[Tensor], Tensor] | None = None  # online labels: logits of each augmented batch


def _online_teacher(ds: DistilledSet, data: RealData, device: torch.device) -> Callable[[Tensor], Tensor] | None:
    """The artifact's cached teacher (checked against the data's classes) for online relabelling."""
    if ds.label_kind != "online":
        return None
    from benchmarks.teachers import load_teacher  # teachers train with this module's helpers

    teacher = load_teacher(str(ds.teacher), device)
    teacher.check_classes(data)
    return teacher.logits


def batch_targets(s: _Setup, idx: Tensor, xb: Tensor) -> Targets:
    """Targets of a batch: the stored labels, or the teacher's logits on exactly the (augmented,
    normalised) batch the student sees, with the artifact's class ids as the true labels."""
    if s.teacher is None:
        return Targets(s.probs[idx], None if s.hard is None else s.hard[idx])
    logits = s.teacher(xb)
    return Targets(torch.softmax(logits, 1), s.hard[idx] if s.hard is not None else None, logits)


def _setup(ds: DistilledSet, data: RealData, cfg: EvalConfig, device: torch.device) -> _Setup:
    _check_fit(ds, data)
    torch.manual_seed(cfg.seed)
    model, adaptation = build_model(cfg.model, data.num_classes, data.channels, data.size)
    gen = torch.Generator().manual_seed(cfg.seed if cfg.order_seed is None else cfg.order_seed)
    batches = _batches(len(ds.images), min(cfg.batch_size, len(ds.images)), cfg.steps, gen)
    return _Setup(model.to(device).train(), adaptation, ds.images.to(device), ds.soft_targets().to(device),
                  ds.labels.to(device) if ds.label_kind in ("hard", "online") else None, batches,
                  _online_teacher(ds, data, device))


def _run_steps(step: Callable[[int], Tensor], opt: torch.optim.Optimizer, sched: Any, steps: int,
               device: torch.device) -> tuple[list[Tensor], bool, float]:
    """The shared loop: step, optimizer update, schedule; loss (one per model) logged every 50 steps."""
    history: list[Tensor] = []
    diverged = False
    with timed(device) as t:
        for i in range(steps):
            loss = step(i)
            opt.step()
            if sched is not None:
                sched.step_update(i + 1)
            if i % 50 == 0 or i == steps - 1:
                history.append(loss.detach().float().cpu())
                if not torch.isfinite(history[-1]).all():
                    diverged = True
                    break
    return history, diverged, t.seconds


def batch_independent(model: nn.Module) -> bool:
    """No layer couples the examples of a batch (BatchNorm does), so chunking a batch is exact."""
    return not any(isinstance(m, nn.modules.batchnorm._NormBase) for m in model.modules())


def train(ds: DistilledSet, data: RealData, cfg: EvalConfig, lr: float, device: torch.device) -> TrainResult:
    """Train a freshly initialised ``cfg.model`` on ``ds`` for ``cfg.steps`` optimizer steps."""
    cfg = cfg.for_device(device)
    s = _setup(ds, data, cfg, device)
    opt = build_optimizer(s.model, cfg.optimizer, lr, cfg.weight_decay)
    sched = build_schedule(opt, cfg.schedule, cfg.steps)
    aug = build_augmentation(cfg.augment, data.channels, bool(data.info.get("hflip", False))).to(device)
    loss_fn = cfg.loss_spec()
    batch = s.batches.shape[1]
    n_chunks = 1

    def step(i: int, fwd: Callable[[Tensor], Tensor] = s.model, limit: int | None = None) -> Tensor:
        idx = s.batches[i, :limit].to(device)
        xb = data.normalize(aug(s.x[idx]))
        targets = batch_targets(s, idx, xb)
        opt.zero_grad(set_to_none=True)
        total = torch.zeros((), device=device)
        for part in torch.arange(len(idx), device=device).tensor_split(min(n_chunks, len(idx))):
            with _autocast(device, cfg.precision):
                logits = fwd(xb[part])
            loss = loss_fn(logits.float(), Targets(targets.probs[part], None if targets.hard is None else targets.hard[part],
                                                   None if targets.logits is None else targets.logits[part]))
            loss = loss * (len(part) / len(idx))  # every loss is a batch mean: chunks add up to it
            loss.backward()
            total += loss.detach()
        return total

    probe = min(FLOP_PROBE, batch)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        # a throw-away step on a few images: its gradients and RNG draws are undone
        flops = count_flops(lambda: step(0, s.model, probe)) * batch // probe
    opt.zero_grad(set_to_none=True)
    heavy = flops / batch >= HEAVY_FLOPS_PER_IMAGE
    compiled = heavy and resolve_compile(cfg.compile, device, cfg.steps * batch)
    forward = _compiled(s.model) if compiled else s.model
    chunk = MICRO_BATCH.get(device.type) if heavy and batch_independent(s.model) else None
    n_chunks = -(-batch // min(chunk or batch, batch))  # equal chunks: few distinct shapes to compile
    history, diverged, seconds = _run_steps(lambda i: step(i, forward), opt, sched, cfg.steps, device)
    losses = [float(h) for h in history]
    return TrainResult(s.model, losses[-1], diverged, s.adaptation, flops, seconds, lr, losses, predict=forward,
                       compiled=compiled, eval_batch=EVAL_BATCH.get(device.type) if heavy else 1024)


def stackable(cfg: EvalConfig, data: RealData) -> bool:
    """Can K copies of this cell's model train as one vmap'd computation? (no running stats,
    an element-wise optimizer, not forced to compile; the stacked path itself never compiles)."""
    if cfg.compile is True or not OPTIMIZERS.get(cfg.optimizer).elementwise:
        return False
    model, _ = build_model(cfg.model, data.num_classes, data.channels, data.size)
    return not any(b is not None for _, b in model.named_buffers()) and not any(
        getattr(m, "track_running_stats", False) for m in model.modules()
    )


def use_stacked(cfgs: list[EvalConfig], data: RealData, device: torch.device) -> bool:
    """The measured policy: stack where it pays on this device type and the cells allow it."""
    same = all(replace(c, seed=0) == replace(cfgs[0], seed=0) for c in cfgs)
    return len(cfgs) > 1 and same and STACKED_BY_DEFAULT.get(device.type, False) and stackable(cfgs[0], data)


def _artifact_steps(cfg: EvalConfig, ds: DistilledSet) -> EvalConfig:
    """The step budget a method chose on validation (label distillation's protocol) and the learning
    rate it learned (MTT's), when the config asks for them."""
    chosen = ds.meta.get("best_train_steps")
    steps = int(chosen) if cfg.steps_from_artifact and chosen else cfg.steps
    if cfg.steps_offset:  # a shifted length never drops below one step
        steps = max(1, steps + cfg.steps_offset)
    lr = float(ds.extras["lr"].reshape(-1)[0]) if cfg.lr_from_artifact and "lr" in ds.extras else cfg.lr
    return replace(cfg, steps=steps, steps_offset=0, lr=lr)


def train_stacked(dss: list[DistilledSet], data: RealData, cfgs: list[EvalConfig], lr: float,
                  device: torch.device) -> list[TrainResult]:
    """Train K models (cells that differ only in seed and artifact) as one batched computation.

    Each model keeps its own seeded initialisation, batch order and augmentation draws; the
    summed loss has independent gradients per model, and an element-wise optimizer over the
    stacked parameters updates each model exactly as its own optimizer would.
    """
    cfgs = [c.for_device(device) for c in cfgs]
    cfg = cfgs[0]
    if any(replace(c, seed=0) != replace(cfg, seed=0) for c in cfgs):
        raise ValueError("train_stacked needs cells that differ only in their seed")
    setups, rng = [], []
    for ds, c in zip(dss, cfgs, strict=True):
        setups.append(_setup(ds, data, c, device))
        rng.append(_rng_state(device))  # each model's augmentation draws continue from its own seed
    k = len(setups)
    params, buffers = stack_module_state([s.model for s in setups])
    params = {n: p.detach().clone().requires_grad_(True) for n, p in params.items()}
    groups = [
        {"params": [p for p in params.values() if p.ndim > 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params.values() if p.ndim <= 2], "weight_decay": 0.0},
    ]
    opt = build_optimizer([g for g in groups if g["params"]], cfg.optimizer, lr, cfg.weight_decay)
    sched = build_schedule(opt, cfg.schedule, cfg.steps)
    aug = build_augmentation(cfg.augment, data.channels, bool(data.info.get("hflip", False))).to(device)
    loss_fn = cfg.loss_spec()
    skeleton = copy.deepcopy(setups[0].model).to("meta")
    forward = vmap(lambda p, b, xb: functional_call(skeleton, (p, b), (xb,)))
    x = torch.stack([s.x for s in setups])
    probs = torch.stack([s.probs for s in setups])
    hard = None if setups[0].hard is None else torch.stack([s.hard for s in setups])  # type: ignore[misc]
    batches = torch.stack([s.batches for s in setups]).to(device)  # [K, steps, B]
    rows = torch.arange(k, device=device).unsqueeze(1)

    def step(i: int) -> Tensor:
        idx = batches[:, i]  # [K, B]
        xb = x[rows, idx]
        if not isinstance(aug, nn.Identity):
            views = []
            for j in range(k):
                _set_rng_state(device, rng[j])
                views.append(aug(xb[j]))
                rng[j] = _rng_state(device)
            xb = torch.stack(views)
        xb = data.normalize(xb.flatten(0, 1)).unflatten(0, (k, -1))
        with _autocast(device, cfg.precision):
            logits = forward(params, buffers, xb).float()
        losses = [loss_fn(logits[j], Targets(probs[j, idx[j]], None if hard is None else hard[j, idx[j]]))
                  for j in range(k)]
        per_model = torch.stack(losses)
        opt.zero_grad(set_to_none=True)
        per_model.sum().backward()  # model j's parameters only receive model j's gradient
        return per_model

    probe = min(FLOP_PROBE, batches.shape[2])

    def one_model_step() -> None:  # FLOPs are counted as the per-model path does, on model 0
        s, idx = setups[0], batches[0, 0, :probe]
        with _autocast(device, cfg.precision):
            logits = s.model(data.normalize(aug(s.x[idx]))).float()
        loss_fn(logits, Targets(s.probs[idx], None if s.hard is None else s.hard[idx])).backward()

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        flops = count_flops(one_model_step) * batches.shape[2] // probe
    setups[0].model.zero_grad(set_to_none=True)
    history, diverged, seconds = _run_steps(step, opt, sched, cfg.steps, device)
    results = []
    for j, s in enumerate(setups):
        s.model.load_state_dict({n: p[j].detach() for n, p in params.items()}, strict=False)
        losses = [float(h[j]) for h in history]
        results.append(TrainResult(s.model, losses[-1], diverged, s.adaptation, flops, seconds / k, lr,
                                   losses, stacked=k))
    return results


def _rng_state(device: torch.device) -> tuple[Tensor, Tensor | None]:
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_rng_state(device: torch.device, state: tuple[Tensor, Tensor | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


@torch.inference_mode()
def accuracy(model: nn.Module, data: RealData, x: Tensor, y: Tensor, device: torch.device, precision: str,
             batch: int | None = None, predict: Callable[[Tensor], Tensor] | None = None) -> float:
    """Top-1 accuracy in percent, in inference mode, in the device's best batch size."""
    batch = batch or EVAL_BATCH.get(device.type, 256)
    predict = model if predict is None else predict
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        xb = data.normalize(x[i : i + batch].to(device))
        with _autocast(device, precision):
            correct += int((predict(xb).argmax(1).cpu() == y[i : i + batch]).sum())
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
    return evaluate_seeds([ds], data, [cfg], device)[0]


def evaluate_seeds(dss: list[DistilledSet], data: RealData, cfgs: list[EvalConfig],
                   device: torch.device, stacked: bool | None = None) -> list[dict[str, Any]]:
    """Evaluate cells that differ only in seed (and so artifact); stacked into one computation
    where ``use_stacked`` says it pays (or as forced by ``stacked``)."""
    cfgs = [_artifact_steps(c, ds).for_device(device) for c, ds in zip(cfgs, dss, strict=True)]
    for c in cfgs:
        c.check()
    stack = use_stacked(cfgs, data, device) if stacked is None else stacked and len(cfgs) > 1
    stack = stack and not any(ds.label_kind == "online" for ds in dss)  # the teacher runs per model
    reset_peak_memory(device)
    vx, vy = val_subset(data, cfgs[0].val_size)
    base = cfgs[0].base_lr()
    grid = [base * m for m in cfgs[0].lr_grid] or [base]
    k = len(cfgs)
    best: list[tuple[float, TrainResult] | None] = [None] * k
    tried: list[dict[str, float]] = [{} for _ in range(k)]
    train_s = [0.0] * k
    with timed(device) as total:
        for lr in grid:
            runs = (train_stacked(dss, data, cfgs, lr, device) if stack
                    else [train(ds, data, c, lr, device) for ds, c in zip(dss, cfgs, strict=True)])
            for j, res in enumerate(runs):
                train_s[j] += res.train_s
                val = accuracy(res.model, data, vx, vy, device, cfgs[j].precision, res.eval_batch, res.predict)
                tried[j][f"{lr:.6g}"] = round(val, 4)
                if best[j] is None or val > best[j][0]:  # type: ignore[index]
                    best[j] = (val, res)
        tests = []
        for j, c in enumerate(cfgs):
            with timed(device) as test_t:
                chosen = best[j][1]  # type: ignore[index]
                acc = accuracy(chosen.model, data, data.test_x, data.test_y, device, c.precision,
                               chosen.eval_batch, chosen.predict)
            tests.append((acc, test_t.seconds))
    test_flops = _test_flops(best[0][1].model, data, cfgs[0], device)  # type: ignore[index]
    peak = matmul_peak_flops(str(device), cfgs[0].precision)
    out = []
    for j, c in enumerate(cfgs):
        val_acc, chosen = best[j]  # type: ignore[misc]
        test_acc, test_s = tests[j]
        n_train = c.steps * min(c.batch_size, len(dss[j].images)) * len(grid)
        train_flops = chosen.flops_per_step * c.steps * len(grid)
        achieved = train_flops / train_s[j] if train_s[j] > 0 else 0.0
        out.append({
            "metrics": {
                "test_acc": round(test_acc, 4),
                "val_acc": round(val_acc, 4),
                "final_loss": round(chosen.final_loss, 6) if math.isfinite(chosen.final_loss) else None,
                "diverged": chosen.diverged,
                "lr": chosen.lr,
                "lr_val_acc": tried[j],
                "steps": c.steps,
            },
            "cost": {
                "wall_s": round(total.seconds / k, 3),
                "train_s": round(train_s[j], 3),
                "test_s": round(test_s, 3),
                "flops": int(train_flops + test_flops),
                "train_flops": int(train_flops),
                "images_per_s": round(n_train / train_s[j], 1) if train_s[j] > 0 else None,
                "achieved_flops_per_s": round(achieved, 1),
                "mfu": round(achieved / peak, 4) if peak > 0 else None,
                "matmul_peak_flops_per_s": round(peak, 1),
                "peak_mem_bytes": peak_memory_bytes(device),
                "stacked_models": chosen.stacked,
                "compiled": chosen.compiled,
            },
            "adaptation": chosen.adaptation,
        })
    return out


def _test_flops(model: nn.Module, data: RealData, cfg: EvalConfig, device: torch.device) -> int:
    probe = data.test_x[:FLOP_PROBE].to(device)
    m = copy.deepcopy(model).eval()
    with torch.inference_mode():
        return count_flops(lambda: m(data.normalize(probe))) * len(data.test_x) // max(1, len(probe))

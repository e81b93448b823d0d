"""The one training path: train freshly initialised models on DistilledSets for a fixed number of steps.

Data stay resident as tensors on the device (no DataLoader); minibatches are seeded epoch-wise
permutations; augmentation runs batched on the device before normalisation. ``train_group`` builds the
optimizer, schedule, augmentation, loss and FLOP probe once and runs one loop; what differs between
one model and K stacked models (cells that differ only in seed, as one torch.func computation) lives
inside the step, in ``_Single`` and ``_Stacked``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from torch.profiler import record_function

from benchmarks import progress
from benchmarks.artifact import DistilledSet
from benchmarks.augment import build_augmentation
from benchmarks.cost import count_flops, timed
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.losses import Targets
from benchmarks.metrics import autocast
from benchmarks.models import build_model
from benchmarks.optim import OPTIMIZERS, build_optimizer, build_schedule, state_resets
from benchmarks.seeding import generator, seed_global
from benchmarks.spec import EvalConfig, resolve_channels_last, resolve_compile, resolve_eval_batch, resolve_micro_batch

# Profiler labels of a training step's phases (``benchmarks.perf.profile_phases``); no cost when not profiling.
PHASES = {p: f"ddbench.{p}" for p in ("data", "forward", "backward", "optimizer")}
FLOP_PROBE = 4  # FLOPs are linear in the batch: count them on this many images and scale
LOG_EVERY = 50  # the loss is logged (and checked for divergence) every this many steps


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
    channels_last: bool = False  # trained in channels-last memory format


def _compiled(model: nn.Module) -> nn.Module:
    """torch.compile with room for the many architectures and shapes a suite runs in one process."""
    import torch._dynamo

    for knob in ("cache_size_limit", "recompile_limit"):
        if hasattr(torch._dynamo.config, knob):
            setattr(torch._dynamo.config, knob, max(64, getattr(torch._dynamo.config, knob)))
    return torch.compile(model)


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


def check_fit(ds: DistilledSet, data: RealData) -> None:
    """The artifact's classes and image shape must be the dataset's."""
    if ds.num_classes != data.num_classes or tuple(ds.images.shape[1:]) != tuple(data.train_x.shape[1:]):
        raise UserError(
            f"artifact is for {ds.num_classes} classes of {tuple(ds.images.shape[1:])} images, "
            f"but {data.name} has {data.num_classes} classes of {tuple(data.train_x.shape[1:])}"
        )


@dataclass
class _Setup:
    """What one model's training needs, built identically for both kinds of step."""

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
    from benchmarks.teachers import load_teacher

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
    check_fit(ds, data)
    seed_global(cfg.seed)
    model, adaptation = build_model(cfg.model, data.num_classes, data.channels, data.size)
    gen = generator(cfg.seed if cfg.order_seed is None else cfg.order_seed)
    batches = _batches(len(ds.images), min(cfg.batch_size, len(ds.images)), cfg.steps, gen)
    return _Setup(model.to(device).train(), adaptation, ds.images.to(device), ds.soft_targets().to(device),
                  ds.labels.to(device) if ds.label_kind in ("hard", "online") else None, batches,
                  _online_teacher(ds, data, device))


def has_depthwise(model: nn.Module) -> bool:
    """A convolution with one input channel per group over several channels (MobileNet, EfficientNet, ConvNeXt)."""
    return any(isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels for m in model.modules())


def batch_independent(model: nn.Module) -> bool:
    """No layer couples the examples of a batch (BatchNorm does), so chunking a batch is exact."""
    return not any(isinstance(m, nn.modules.batchnorm._NormBase) for m in model.modules())


@dataclass
class _Shared:
    """The pieces both kinds of step use, built once per training run."""

    data: RealData
    cfg: EvalConfig
    device: torch.device
    aug: nn.Module
    loss_fn: Any
    opt: torch.optim.Optimizer


class _Single:
    """One model: its batch is optionally split into micro-batches, its forward optionally compiled."""

    def __init__(self, dss: list[DistilledSet], data: RealData, cfgs: list[EvalConfig], device: torch.device) -> None:
        self.s = _setup(dss[0], data, cfgs[0], device)
        self.channels_last = resolve_channels_last(device, has_depthwise(self.s.model))
        if self.channels_last:  # in place, before the optimizer holds the parameters
            self.s.model.to(memory_format=torch.channels_last)
        self.n_chunks = 1
        self.forward: Callable[[Tensor], Tensor] = self.s.model
        self.compiled = False
        self.eval_batch: int | None = None
        self.sh: _Shared

    def optimizer_target(self, weight_decay: float, decay_all: bool = False) -> Any:
        if decay_all:  # one group: torch SGD over net.parameters(), as the papers' evaluate_synset builds it
            return [{"params": list(self.s.model.parameters()), "weight_decay": weight_decay}]
        return self.s.model

    def _step(self, i: int, fwd: Callable[[Tensor], Tensor], limit: int | None = None) -> Tensor:
        sh, s = self.sh, self.s
        with record_function(PHASES["data"]):
            idx = s.batches[i, :limit].to(sh.device)
            xb = sh.data.normalize(sh.aug(s.x[idx]))
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            targets = batch_targets(s, idx, xb)
            sh.opt.zero_grad(set_to_none=True)
            total = torch.zeros((), device=sh.device)
        for part in torch.arange(len(idx), device=sh.device).tensor_split(min(self.n_chunks, len(idx))):
            with record_function(PHASES["forward"]):
                with autocast(sh.device, sh.cfg.precision):
                    logits = fwd(xb[part])
                loss = sh.loss_fn(logits.float(), Targets(
                    targets.probs[part], None if targets.hard is None else targets.hard[part],
                    None if targets.logits is None else targets.logits[part]))
                loss = loss * (len(part) / len(idx))  # every loss is a batch mean: chunks add up to it
            with record_function(PHASES["backward"]):
                loss.backward()
            total += loss.detach()
        return total

    def probe_flops(self) -> int:
        batch = self.s.batches.shape[1]
        probe = min(FLOP_PROBE, batch)
        return count_flops(lambda: self._step(0, self.s.model, probe)) * batch // probe

    def after_probe(self, flops: int) -> None:
        """Undo the probe's gradients; decide compiling, micro-batching and the test batch from its FLOPs."""
        self.sh.opt.zero_grad(set_to_none=True)
        sh, batch = self.sh, self.s.batches.shape[1]
        per_image = flops / batch
        self.compiled = resolve_compile(sh.cfg.compile, sh.device, sh.cfg.steps * batch, per_image, self.channels_last)
        self.forward = _compiled(self.s.model) if self.compiled else self.s.model
        chunk = resolve_micro_batch(sh.device, per_image, batch_independent(self.s.model))
        self.n_chunks = -(-batch // min(chunk or batch, batch))  # equal chunks: few distinct shapes to compile
        self.eval_batch = resolve_eval_batch(sh.device, per_image)

    def step(self, i: int) -> Tensor:
        return self._step(i, self.forward)

    def results(self, history: list[Tensor], diverged: bool, seconds: float, flops: int, lr: float) -> list[TrainResult]:
        losses = [float(h) for h in history]
        return [TrainResult(self.s.model, losses[-1], diverged, self.s.adaptation, flops, seconds, lr, losses,
                            predict=self.forward, compiled=self.compiled, eval_batch=self.eval_batch,
                            channels_last=self.channels_last)]


class _Stacked:
    """K models as one vmap'd computation; each keeps its seeded initialisation, order and augmentation draws.

    The summed loss has independent gradients per model, and an element-wise optimizer over the stacked
    parameters updates each model exactly as its own optimizer would."""

    def __init__(self, dss: list[DistilledSet], data: RealData, cfgs: list[EvalConfig], device: torch.device) -> None:
        if any(replace(c, seed=0) != replace(cfgs[0], seed=0) for c in cfgs):
            raise ValueError("stacked training needs cells that differ only in their seed")
        self.setups, self.rng = [], []
        for ds, c in zip(dss, cfgs, strict=True):
            self.setups.append(_setup(ds, data, c, device))
            self.rng.append(_rng_state(device))  # each model's augmentation draws continue from its own seed
        params, self.buffers = stack_module_state([s.model for s in self.setups])
        self.params = {n: p.detach().clone().requires_grad_(True) for n, p in params.items()}
        skeleton = copy.deepcopy(self.setups[0].model).to("meta")
        self.forward = vmap(lambda p, b, xb: functional_call(skeleton, (p, b), (xb,)))
        self.x = torch.stack([s.x for s in self.setups])
        self.probs = torch.stack([s.probs for s in self.setups])
        hard = [s.hard for s in self.setups]
        self.hard = None if hard[0] is None else torch.stack(hard)  # type: ignore[arg-type]
        self.batches = torch.stack([s.batches for s in self.setups]).to(device)  # [K, steps, B]
        self.rows = torch.arange(len(self.setups), device=device).unsqueeze(1)
        self.sh: _Shared

    def optimizer_target(self, weight_decay: float, decay_all: bool = False) -> Any:
        groups = [
            {"params": [p for p in self.params.values() if p.ndim > 2], "weight_decay": weight_decay},
            {"params": [p for p in self.params.values() if p.ndim <= 2], "weight_decay": weight_decay if decay_all else 0.0},
        ]
        return [g for g in groups if g["params"]]

    def step(self, i: int) -> Tensor:
        sh, k = self.sh, len(self.setups)
        idx = self.batches[:, i]  # [K, B]
        xb = self.x[self.rows, idx]
        if not isinstance(sh.aug, nn.Identity):
            views = []
            for j in range(k):
                _set_rng_state(sh.device, self.rng[j])
                views.append(sh.aug(xb[j]))
                self.rng[j] = _rng_state(sh.device)
            xb = torch.stack(views)
        xb = sh.data.normalize(xb.flatten(0, 1)).unflatten(0, (k, -1))
        with autocast(sh.device, sh.cfg.precision):
            logits = self.forward(self.params, self.buffers, xb).float()
        per_model = torch.stack([
            sh.loss_fn(logits[j], Targets(self.probs[j, idx[j]], None if self.hard is None else self.hard[j, idx[j]]))
            for j in range(k)])
        sh.opt.zero_grad(set_to_none=True)
        per_model.sum().backward()  # model j's parameters only receive model j's gradient
        return per_model

    def probe_flops(self) -> int:
        """FLOPs counted as the one-model step does, on model 0."""
        sh, s = self.sh, self.setups[0]
        probe = min(FLOP_PROBE, self.batches.shape[2])
        idx = self.batches[0, 0, :probe]

        def one_model_step() -> None:
            with autocast(sh.device, sh.cfg.precision):
                logits = s.model(sh.data.normalize(sh.aug(s.x[idx]))).float()
            sh.loss_fn(logits, Targets(s.probs[idx], None if s.hard is None else s.hard[idx])).backward()

        return count_flops(one_model_step) * self.batches.shape[2] // probe

    def after_probe(self, flops: int) -> None:
        self.setups[0].model.zero_grad(set_to_none=True)

    def results(self, history: list[Tensor], diverged: bool, seconds: float, flops: int, lr: float) -> list[TrainResult]:
        out, k = [], len(self.setups)
        for j, s in enumerate(self.setups):
            s.model.load_state_dict({n: p[j].detach() for n, p in self.params.items()}, strict=False)
            losses = [float(h[j]) for h in history]
            out.append(TrainResult(s.model, losses[-1], diverged, s.adaptation, flops, seconds / k, lr, losses, stacked=k))
        return out


def _run_steps(step: Callable[[int], Tensor], opt: torch.optim.Optimizer, sched: Any, steps: int,
               device: torch.device, desc: str = "train",
               resets: frozenset[int] = frozenset()) -> tuple[list[Tensor], bool, float]:
    """The loop: step, optimizer update, schedule, the optimizer's state cleared after the updates in ``resets``
    (a fresh optimizer, as a schedule may ask); the loss (one per model) logged every LOG_EVERY steps
    (and shown on the progress bar, when there is one)."""
    history: list[Tensor] = []
    diverged = False
    with timed(device) as t, progress.bar(total=steps, desc=desc, unit="step") as bar:
        for i in range(steps):
            loss = step(i)
            with record_function(PHASES["optimizer"]):
                opt.step()
                if sched is not None:
                    sched.step_update(i + 1)
            if i + 1 in resets:
                opt.state.clear()
            if i % LOG_EVERY == 0 or i == steps - 1:
                history.append(loss.detach().float().cpu())
                bar.set_postfix_str(f"loss {float(history[-1].mean()):.4g}", refresh=False)
                if not torch.isfinite(history[-1]).all():
                    diverged = True
                    break
            bar.update(1)
    return history, diverged, t.seconds


def train_group(dss: list[DistilledSet], data: RealData, cfgs: list[EvalConfig], lr: float, device: torch.device,
                stacked: bool = False) -> list[TrainResult]:
    """Train one model per (artifact, config) for ``cfgs[0].steps`` optimizer steps at ``lr``; stacked into
    one computation when ``stacked`` (the configs must then differ only in seed). Configs are resolved
    for ``device`` here (``precision="auto"``)."""
    cfgs = [c.for_device(device) for c in cfgs]
    if not stacked and len(cfgs) > 1:
        return [r for ds, c in zip(dss, cfgs, strict=True) for r in train_group([ds], data, [c], lr, device)]
    cfg = cfgs[0]
    kernel: _Single | _Stacked = (_Stacked if stacked else _Single)(dss, data, cfgs, device)
    opt = build_optimizer(kernel.optimizer_target(cfg.weight_decay, cfg.weight_decay_all), cfg.optimizer, lr,
                          cfg.weight_decay)
    sched = build_schedule(opt, cfg.schedule, cfg.steps, cfg.epochs)
    aug = build_augmentation(cfg.augment, data.channels, bool(data.info.get("hflip", False)),
                             tuple(data.mean), tuple(data.std)).to(device)
    kernel.sh = _Shared(data, cfg, device, aug, cfg.loss_spec(), opt)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        flops = kernel.probe_flops()  # a throw-away step on a few images: its gradients and RNG draws are undone
    kernel.after_probe(flops)
    desc = f"train {cfg.model}/{cfg.optimizer} lr={lr:.3g}" + (f" x{len(cfgs)} seeds" if stacked else "")
    resets = state_resets(cfg.schedule, cfg.steps, cfg.epochs)
    history, diverged, seconds = _run_steps(kernel.step, opt, sched, cfg.steps, device, desc, resets)
    return kernel.results(history, diverged, seconds, flops, lr)


def train(ds: DistilledSet, data: RealData, cfg: EvalConfig, lr: float, device: torch.device) -> TrainResult:
    """Train a freshly initialised ``cfg.model`` on ``ds`` for ``cfg.steps`` optimizer steps."""
    return train_group([ds], data, [cfg], lr, device)[0]


def stackable(cfg: EvalConfig, data: RealData) -> bool:
    """Can K copies of this cell's model train as one vmap'd computation? (no running stats,
    an element-wise optimizer, not forced to compile; the stacked path itself never compiles)."""
    if cfg.compile is True or not OPTIMIZERS.get(cfg.optimizer).elementwise:
        return False
    model, _ = build_model(cfg.model, data.num_classes, data.channels, data.size)
    return not any(b is not None for _, b in model.named_buffers()) and not any(
        getattr(m, "track_running_stats", False) for m in model.modules()
    )


def _rng_state(device: torch.device) -> tuple[Tensor, Tensor | None]:
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_rng_state(device: torch.device, state: tuple[Tensor, Tensor | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)

"""Label distillation (Bohdal, Yang & Hospedales 2020): learn the labels of a few real base images.

``ld`` is the second-order algorithm: an online learner takes a differentiable SGD step on a
minibatch of base images with the current soft labels; the stepped learner's cross-entropy on a
batch of real target images is differentiated through that step into the labels (Adam, then a
projection back onto the simplex). For the paper's single step that derivative has a closed form
(``_one_step``: a first-order backward of the outer loss and a forward-mode product on the inner batch),
equal to back-propagating through the unrolled step, which several inner steps still use. The learner itself keeps training on the base set and is reset
when its moving-average target error stops improving; the reset lengths give the training length
used to select labels on the validation split. Any registered model can be the learner
(``torch.func.functional_call`` over its parameters).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from benchmarks import checkpoint
from benchmarks.artifact import DistilledSet, TrainingHints
from benchmarks.cost import SegmentClock
from benchmarks.data import RealData, load_dataset
from benchmarks.errors import UserError
from benchmarks.losses import soft_cross_entropy as soft_ce
from benchmarks.methods import Budget, budget_loop, register_method
from benchmarks.metrics import accuracy, val_subset
from benchmarks.models import build_model
from benchmarks.seeding import generator, seed_global
from benchmarks.spec import EvalConfig
from benchmarks.training import train
from methods.base_examples import select_base, to_target
from methods.label_resume import restore, snapshot
from methods.online_learner import Learner, ResetTracker


def default_inner_batch(n: int) -> int:
    """The official code's inner minibatch size for N base examples (10 / 10 / 25 / 50 ...)."""
    return 10 if n <= 20 else 25 if n <= 50 else 50


def project_simplex(labels: Tensor) -> Tensor:
    """Clamp to [0, 1] and renormalise each row (a zero row becomes uniform), as the paper does."""
    y = labels.clamp(0.0, 1.0)
    s = y.sum(1, keepdim=True)
    return torch.where(s > 0, y / s.clamp_min(1e-12), torch.full_like(y, 1.0 / y.shape[1]))


@dataclass
class MetaStep:
    """One meta-step's results: the outer loss, the labels' gradient, the stepped learner's target error, and
    the learner's own gradient on the first inner batch with the labels before their update (its Adam step
    reuses it instead of a second forward and backward)."""

    outer: Tensor
    label_grad: Tensor
    error: float
    inner_grad: dict[str, Tensor]


def meta_step(learner: Learner, labels: Tensor, xb: Tensor, xt: Tensor, yt: Tensor, inner_lr: float,
              inner_batches: list[Tensor]) -> MetaStep:
    """Outer loss of the learner after ``len(inner_batches)`` differentiable SGD steps on base minibatches and
    its gradient with respect to the labels: in closed form for the paper's single step, else by unrolling."""
    model = learner.model
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = dict(model.named_buffers())
    step = _one_step if len(inner_batches) == 1 else _unrolled
    return step(model, params, buffers, labels, xb, xt, yt, inner_lr, inner_batches)


def _outer(model: nn.Module, fast: dict[str, Tensor], buffers: dict[str, Tensor], xt: Tensor,
           yt: Tensor) -> tuple[Tensor, Tensor]:
    logits = functional_call(model, (fast, buffers), (xt,))
    return F.cross_entropy(logits, yt), logits.detach()


def _one_step(model: nn.Module, params: dict[str, Tensor], buffers: dict[str, Tensor], labels: Tensor, xb: Tensor,
              xt: Tensor, yt: Tensor, inner_lr: float, inner_batches: list[Tensor]) -> MetaStep:
    """The single inner step without a second-order graph. The inner loss L = -1/B sum_i y_i . log p(x_i; theta)
    is linear in the labels, so theta' = theta - lr grad L moves with y_ic by lr/B * grad_theta log p_c(x_i), and
    dOuter/dy_ic = lr/B * (J v)_ic: J the Jacobian of the inner batch's log-probabilities in theta, v the outer
    gradient at theta'. That is one first-order outer backward plus a forward-mode product on the inner batch -
    the same gradient the unrolled graph gives (tests compare them), at the cost of a plain training step."""
    (b,) = inner_batches
    x, y = xb[b], labels.detach()[b]

    def inner_logits(p: dict[str, Tensor]) -> Tensor:
        # copies of the buffers: torch.func may not mutate captured tensors (BatchNorm's running statistics,
        # which the learner never uses: it always runs in train mode)
        return functional_call(model, (p, {n: t.clone() for n, t in buffers.items()}), (x,))

    def log_probs(p: dict[str, Tensor]) -> Tensor:
        return F.log_softmax(inner_logits(p), 1)

    grad = torch.func.grad(lambda p: soft_ce(inner_logits(p), y))(params)
    fast = {n: (p - inner_lr * grad[n]).requires_grad_(True) for n, p in params.items()}
    outer, logits = _outer(model, fast, buffers, xt, yt)
    v = dict(zip(fast, torch.autograd.grad(outer, list(fast.values())), strict=True))
    _, jv = torch.func.jvp(log_probs, (params,), (v,))
    label_grad = torch.zeros_like(labels)
    label_grad[b] = inner_lr / len(b) * jv  # b: distinct indices
    return MetaStep(outer.detach(), label_grad, float((logits.argmax(1) != yt).float().mean()), grad)


def _unrolled(model: nn.Module, params: dict[str, Tensor], buffers: dict[str, Tensor], labels: Tensor, xb: Tensor,
              xt: Tensor, yt: Tensor, inner_lr: float, inner_batches: list[Tensor]) -> MetaStep:
    """Several inner steps: back-propagate the outer loss through the unrolled SGD graph into the labels."""
    fast = {n: p.requires_grad_(True) for n, p in params.items()}
    first: dict[str, Tensor] = {}
    for b in inner_batches:
        inner = soft_ce(functional_call(model, (fast, buffers), (xb[b],)), labels[b])
        grads = torch.autograd.grad(inner, list(fast.values()), create_graph=True)
        first = first or {n: g.detach() for n, g in zip(fast, grads, strict=True)}
        fast = {n: p - inner_lr * g for (n, p), g in zip(fast.items(), grads, strict=True)}
    outer, logits = _outer(model, fast, buffers, xt, yt)
    (label_grad,) = torch.autograd.grad(outer, labels)
    return MetaStep(outer.detach(), label_grad, float((logits.argmax(1) != yt).float().mean()), first)


def initial_labels(s: LDSettings, true: Tensor, num_classes: int, same_dataset: bool) -> Tensor:
    """Uniform 1/C (the paper: true labels are never used), or the base images' true labels smoothed
    by ``init_smoothing`` (a warm start, only when base and target share their classes)."""
    if s.label_init == "uniform":
        return torch.full((len(true), num_classes), 1.0 / num_classes)
    if s.label_init != "smoothed":
        raise UserError(f"unknown label_init {s.label_init!r}; use 'uniform' or 'smoothed'")
    if not same_dataset:
        raise UserError("label_init='smoothed' needs base images from the target dataset; use 'uniform' cross-dataset")
    eps = s.init_smoothing
    return F.one_hot(true, num_classes).float() * (1 - eps) + eps / num_classes


def judge_labels(base: Tensor, labels: Tensor, data: RealData, learner: str, steps: int, batch: int, seed: int,
                 device: torch.device, vx: Tensor, vy: Tensor) -> float:
    """Validation accuracy of a fresh learner trained ``steps`` steps on (base, labels) with Adam
    (un-normalised base images: the shared trainer normalises them)."""
    ds = DistilledSet(base.cpu(), labels.detach().cpu(), "soft", data.num_classes)
    cfg = EvalConfig(model=learner, optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="constant",
                     loss="soft_ce", steps=max(1, steps), batch_size=batch, seed=seed, precision="fp32")
    return accuracy(train(ds, data, cfg, 1e-3, device).model, data, vx, vy, device, "fp32")


@dataclass
class SecondOrder:
    """Bohdal et al.'s second-order meta-learner: labels get their gradient through the learner's
    differentiable inner SGD step(s); the learner itself trains online with Adam."""

    learner: Learner
    inner_lr: float
    last: MetaStep | None = None

    def label_gradient(self, labels: Tensor, xb: Tensor, batches: list[Tensor], xt: Tensor,
                       yt: Tensor) -> tuple[Tensor, Tensor]:
        self.last = meta_step(self.learner, labels, xb, xt, yt, self.inner_lr, batches)
        return self.last.outer, self.last.label_grad

    def learner_update(self, xb: Tensor, batch: Tensor, labels: Tensor, xt: Tensor, yt: Tensor) -> float:
        """One Adam step of the online learner on its first inner batch with the labels from before their
        update: the meta-step already computed exactly that gradient, so it is reused. Returns the target
        error measured on the meta-step's forward pass (one SGD step ahead), also to save a forward."""
        assert self.last is not None, "learner_update follows label_gradient"
        for n, p in self.learner.model.named_parameters():
            p.grad = self.last.inner_grad[n]
        self.learner.opt.step()
        return self.last.error

    def reset(self) -> None:
        self.learner.reset()

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """The online learner's weights and Adam state, to resume from (``benchmarks/checkpoint.py``)."""
        tensors, rest = checkpoint.optimizer_state("opt", self.learner.opt)
        return {**checkpoint.module_state("model", self.learner.model), **tensors}, {"opt": rest}

    def load_state(self, tensors: dict[str, Tensor], info: dict[str, Any]) -> None:
        checkpoint.load_module_state("model", self.learner.model, tensors)
        checkpoint.load_optimizer_state("opt", self.learner.opt, tensors, info["opt"])


class MetaLearner(Protocol):
    def label_gradient(self, labels: Tensor, xb: Tensor, batches: list[Tensor], xt: Tensor,
                       yt: Tensor) -> tuple[Tensor, Tensor]: ...

    def learner_update(self, xb: Tensor, batch: Tensor, labels: Tensor, xt: Tensor, yt: Tensor) -> float: ...

    def reset(self) -> None: ...

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]: ...

    def load_state(self, tensors: dict[str, Tensor], info: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class LDSettings:
    """The knobs both label-distillation variants share."""

    learner: str
    iterations: int
    inner_steps: int
    inner_batch: int
    outer_batch: int
    label_lr: float
    base: str
    stats_gap: int
    select_every: int
    val_size: int
    base_dataset: str = ""
    label_init: str = "uniform"
    init_smoothing: float = 0.1
    label_schedule: str = "constant"  # or "cosine": the label lr decays to 0 over the iterations
    val_init: str = "fresh"  # each selection point's judge gets its own init and batch order; or "seeded"


VAL_INITS = ("seeded", "fresh")


def judge_seed(s: LDSettings, seed: int, iteration: int) -> int:
    """The seed of the learner that judges the labels at a selection point. "fresh" (the default): one per
    point, as the official code's validation draws a new LeNet and new batches from its running RNG each time;
    "seeded": the distillation's seed every time (every point judged with the same init and batch order: what
    ld did before schema 5, 0.55 points lower over five paired N = 100 distillations, ld-val-ablation-mnist)."""
    return seed if s.val_init == "seeded" else 1_000_003 * seed + iteration


def base_source(data: RealData, base_dataset: str) -> RealData:
    """Where the base images come from: the target itself, or another dataset loaded from the same data root."""
    if base_dataset and base_dataset != data.name:
        return load_dataset(base_dataset, data.info.get("data_root")).for_distillation()
    return data


@dataclass
class LabelRun:
    """One label-distillation run between meta-iterations: the base set, the labels and their optimiser, the
    meta-learner and its reset tracker (``start_run`` builds it; ``benchmarks/perf/bench_ld.py`` times ``step``)."""

    data: RealData
    source: RealData
    s: LDSettings
    base_idx: Tensor
    base_images: Tensor
    xb: Tensor
    inner_batch: int
    gap: int
    meta: MetaLearner
    labels: Tensor
    label_opt: torch.optim.Optimizer
    label_sched: Any
    tracker: ResetTracker
    gen: torch.Generator
    device: torch.device

    def step(self) -> float:
        """One outer step: a target batch, the labels' meta-gradient, an Adam step projected onto the simplex,
        then the online learner's own step (with the labels from before the update) and its reset check."""
        s, data, labels = self.s, self.data, self.labels
        t_idx = torch.randint(0, len(data.train_y), (s.outer_batch,), generator=self.gen)
        xt = data.normalize(data.train_x[t_idx]).to(self.device)
        yt = data.train_y[t_idx].to(self.device)
        batches = [torch.randperm(len(self.xb), generator=self.gen)[:self.inner_batch].to(self.device)
                   for _ in range(s.inner_steps)]
        outer, label_grad = self.meta.label_gradient(labels, self.xb, batches, xt, yt)
        before = labels.detach().clone()
        labels.grad = label_grad
        self.label_opt.step()
        if self.label_sched is not None:
            self.label_sched.step()
        with torch.no_grad():
            labels.copy_(project_simplex(labels))
        if self.tracker.update(self.meta.learner_update(self.xb, batches[0], before, xt, yt)):
            self.meta.reset()
        return float(outer)


def start_run(data: RealData, ipc: int, iterations: int, seed: int, device: torch.device, s: LDSettings,
              make_meta: Callable[[Callable[[], nn.Module]], MetaLearner]) -> LabelRun:
    """Base examples, initial labels with Adam (cosine-decayed over ``iterations`` if asked), a fresh learner."""
    if s.label_schedule not in ("constant", "cosine"):
        raise UserError(f"unknown label_schedule {s.label_schedule!r}; use 'constant' or 'cosine'")
    if s.val_init not in VAL_INITS:
        raise UserError(f"unknown val_init {s.val_init!r}; use one of {', '.join(VAL_INITS)}")
    source = base_source(data, s.base_dataset)
    base_idx = select_base(source, ipc * data.num_classes, s.base, seed, device)
    base_images = to_target(source.train_x[base_idx], data)
    n = len(base_idx)
    gen = generator(seed)
    seed_global(seed)
    meta = make_meta(lambda: build_model(s.learner, data.num_classes, data.channels, data.size)[0].to(device))
    labels = initial_labels(s, source.train_y[base_idx], data.num_classes, source is data).to(device).requires_grad_(True)
    label_opt = torch.optim.Adam([labels], lr=s.label_lr)
    label_sched = torch.optim.lr_scheduler.CosineAnnealingLR(label_opt, iterations) if s.label_schedule == "cosine" else None
    gap = s.stats_gap or (200 if n > 100 else 50)
    return LabelRun(data, source, s, base_idx, base_images, data.normalize(base_images).to(device),
                    min(s.inner_batch or default_inner_batch(n), n), gap, meta, labels, label_opt, label_sched,
                    ResetTracker(gap), gen, device)


def distill_labels(data: RealData, budget: Budget, seed: int, device: torch.device, s: LDSettings,
                   make_meta: Callable[[Callable[[], nn.Module]], MetaLearner]) -> DistilledSet:
    """The shared driver: base examples, uniform initial labels, Adam + simplex projection, online
    learner with resets, and label / step-count selection on the validation split only."""
    iterations = budget.iterations or s.iterations
    if not budget.ipc:
        raise UserError("label distillation needs a budget of base examples per class (ipc)")
    run = start_run(data, budget.ipc, iterations, seed, device, s, make_meta)
    source, base_idx, base_images, labels = run.source, run.base_idx, run.base_images, run.labels
    tracker, gap, inner_batch = run.tracker, run.gap, run.inner_batch
    vx, vy = val_subset(data, s.val_size)
    best = (-1.0, labels.detach().clone(), 0, 0)
    history: list[float] = []
    checks: list[list[float]] = []  # [iteration, train steps, val acc] at each selection point
    check_s: list[float] = []  # seconds since the loop started at each selection point (cost, not content)
    # A killed run resumes from its last selection point, bit for bit (a seconds budget cannot: it depends on speed).
    folder = checkpoint.current() if budget.seconds is None else None
    fingerprint = {"settings": asdict(s), "iterations": iterations, "ipc": budget.ipc, "seed": seed,
                   "dataset": data.name, "device": device.type, "base": base_idx.tolist()}
    done = 0
    clock = SegmentClock()  # a resumed run's clocks continue the saved ones
    saved = checkpoint.load(folder, fingerprint) if folder is not None else None
    if saved is not None:
        done, best, history, checks, check_s = restore(run, *saved)
        clock.resume(check_s[-1] if check_s else 0.0, saved[1].get("cpu_s"))  # states saved before the CPU clock have none

    def select(it: int) -> None:
        nonlocal best
        steps = tracker.train_steps(fallback=max(gap, it))
        val = judge_labels(base_images, labels, data, s.learner, steps, inner_batch, judge_seed(s, seed, it), device,
                           vx, vy)
        checks.append([it, steps, round(val, 4)])
        check_s.append(round(clock.wall(), 2))
        if val > best[0]:
            best = (val, labels.detach().clone(), steps, it)
        if folder is not None and it < iterations:
            checkpoint.save(folder, *snapshot(run, it, best, history, checks, check_s, clock.cpu()), fingerprint)

    start = time.perf_counter()
    it = done
    for it in (i + 1 for i in budget_loop(budget, iterations) if i >= done):
        history.append(run.step())
        if it % s.select_every == 0 or it == iterations:
            select(it)
    if not checks or checks[-1][0] != it:  # a seconds budget ended the loop between selection points
        select(it)
    wall = time.perf_counter() - start
    val_acc, best_labels, best_steps, best_it = best
    meta = {
        "base_dataset": source.name, "base_indices": base_idx.tolist(), "base_selection": s.base,
        "base_true_labels": source.train_y[base_idx].tolist(), "inner_batch": inner_batch,
        "best_iteration": best_it, "best_val_acc": round(val_acc, 4),
        "reset_lengths": tracker.lengths, "outer_loss": [round(h, 5) for h in history[:: max(1, len(history) // 50)]],
        "iterations_run": it, "selection": checks,
        "cost": {"seconds_per_iteration": round(wall / max(1, it - done), 5), "selection_s": check_s,
                 **({"resumed_at_iteration": done, **clock.earlier()} if done else {})},
    }
    return DistilledSet(base_images.clone(), project_simplex(best_labels).cpu(), "soft", data.num_classes, meta=meta,
                        hints=TrainingHints(steps=best_steps))


LD_SMOKE = {"iterations": 6, "outer_batch": 64, "select_every": 3, "val_size": 100}  # seconds, for tests
LD_DEFAULTS = dict(learner="lenet", iterations=2000, inner_steps=1, inner_batch=0, outer_batch=1024, label_lr=1e-3,
                   base="balanced", stats_gap=0, select_every=250, val_size=2000, base_dataset="",
                   label_init="uniform", init_smoothing=0.1, label_schedule="constant", val_init="fresh")


@register_method("ld", label_kind="soft", smoke=LD_SMOKE, inner_lr=0.01, model_lr=1e-3, **LD_DEFAULTS,
                 description="label distillation, second order: learned soft labels on real base images")
def label_distillation(data: RealData, budget: Budget, seed: int, device: torch.device, inner_lr: float,
                       model_lr: float, **settings: Any) -> DistilledSet:
    return distill_labels(data, budget, seed, device, LDSettings(**settings),
                          lambda make: SecondOrder(Learner(make, model_lr), inner_lr))


@register_method("ld_warm", label_kind="soft", smoke=LD_SMOKE, inner_lr=0.01, model_lr=1e-3,
                 **{**LD_DEFAULTS, "label_init": "smoothed", "label_schedule": "cosine"},
                 description="label distillation warm-started from the base images' smoothed true labels")
def label_distillation_warm(data: RealData, budget: Budget, seed: int, device: torch.device, inner_lr: float,
                            model_lr: float, **settings: Any) -> DistilledSet:
    return label_distillation(data, budget, seed, device, inner_lr, model_lr, **settings)

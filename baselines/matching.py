"""Image distillation by matching: ``dc`` / ``dsa`` (gradient matching, Zhao et al. 2021; Zhao &
Bilen 2021) and ``dm`` (distribution matching, Zhao & Bilen 2023).

Synthetic images start from real images of their class (seeded) and are optimised in [0, 1]; the
learning rates are given in the papers' units (normalised pixels) and converted. ``dsa`` and ``dm``
apply one shared random DSA transform to the real and the synthetic batch of a class
(``benchmarks.augment.siamese``). Defaults are CPU-sized (minutes per artifact on MNIST); the
``preset = "paper"`` parameter restores the published iteration counts and batch sizes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.artifact import DistilledSet
from benchmarks.augment import build_augmentation, siamese
from benchmarks.checkpoint import LoopState, resumable_loop
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.methods import Budget, register_method
from benchmarks.models import build_model
from benchmarks.seeding import generator


@dataclass
class Synthetic:
    """Learnable per-class images in [0, 1], initialised from real images of the class."""

    images: Tensor  # [K * ipc, C, H, W], requires grad
    labels: Tensor
    ipc: int

    def of_class(self, c: int) -> Tensor:
        return self.images[c * self.ipc : (c + 1) * self.ipc]

    def clamp_(self) -> None:
        with torch.no_grad():
            self.images.clamp_(0.0, 1.0)


def init_from_real(data: RealData, ipc: int, gen: torch.Generator, device: torch.device) -> Synthetic:
    picks = []
    for c in range(data.num_classes):
        idx = (data.train_y == c).nonzero().flatten()
        if len(idx) < ipc:
            raise UserError(f"class {data.classes[c]!r} has {len(idx)} training images, fewer than ipc={ipc}")
        picks.append(idx[torch.randperm(len(idx), generator=gen)[:ipc]])
    sel = torch.cat(picks)
    return Synthetic(data.train_x[sel].clone().to(device).requires_grad_(True),
                     torch.arange(data.num_classes).repeat_interleave(ipc), ipc)


def real_batch(data: RealData, c: int, n: int, gen: torch.Generator, device: torch.device) -> Tensor:
    idx = (data.train_y == c).nonzero().flatten()
    return data.train_x[idx[torch.randint(0, len(idx), (n,), generator=gen)]].to(device)


def embedding(model: nn.Module, x: Tensor) -> Tensor:
    return model.forward_head(model.forward_features(x), pre_logits=True).flatten(1)


def pixel_lr(data: RealData, lr_normalised: float) -> float:
    """A learning rate in normalised-pixel units (the papers') as the same step on [0, 1] pixels."""
    std = sum(data.std) / len(data.std)
    return lr_normalised * std * std


def layer_distance(g_syn: Tensor, g_real: Tensor) -> Tensor:
    """DC's distance for one layer: sum over output units of 1 - cos; biases (1-D) are skipped."""
    if g_syn.ndim == 1:
        return g_syn.new_zeros(())
    a, b = g_syn.flatten(1), g_real.flatten(1)
    return (1 - F.cosine_similarity(a, b, dim=1, eps=1e-6)).sum()


def synthetic_artifact(syn: Synthetic, data: RealData, loop: LoopState, start: float, extra: dict[str, Any]) -> DistilledSet:
    history = loop.history
    every = max(1, len(history) // 100)
    extra = dict(extra)
    ran = max(1, len(history) - loop.resumed_at)  # iterations this process ran (a resumed run did fewer)
    cost = {"seconds_per_iteration": round((time.perf_counter() - start) / ran, 5),
            **({"resumed_at_iteration": loop.resumed_at, **loop.clock.earlier()} if loop.resumed_at else {}),
            **extra.pop("cost", {})}  # timings sit beside the content, outside its hash
    return DistilledSet(syn.images.detach().clamp(0, 1).cpu(), syn.labels.clone(), "hard", data.num_classes, meta={
        "loss_history": [round(h, 6) for h in history[::every]], "loss_every": every, "iterations_run": len(history),
        **extra, "cost": cost})


def loop_fingerprint(data: RealData, budget: Budget, seed: int, device: torch.device, **settings: Any) -> dict[str, Any]:
    """What must match for a saved loop state to be resumed (``benchmarks.checkpoint.resumable_loop``)."""
    return {"dataset": data.name, "ipc": budget.ipc, "iterations": budget.iterations, "seed": seed,
            "device": device.type, **settings}


# Papers' settings per images-per-class: (outer_loop, inner_loop) for gradient matching.
DC_LOOPS = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}
# "cpu": gradient matching gets 100 outer updates of the images in all (100 iterations at 1 image
# per class; 10 at 10, whose iterations each hold 10 matchings) and the network follows the synthetic
# set for at most 10 steps between matchings (the papers' 50 at 10 images per class cost ~2 CPU minutes
# per iteration with ConvNet-3 at width 128). "paper": the published counts, no cap.
PRESETS: dict[str, dict[str, dict[str, int]]] = {
    "cpu": {"dc": {"iterations": 0, "batch_real": 64, "inner_cap": 10, "updates": 100},
            "dm": {"iterations": 300, "batch_real": 128}},
    "paper": {"dc": {"iterations": 1000, "batch_real": 256, "inner_cap": 0, "updates": 0},
              "dm": {"iterations": 20000, "batch_real": 256}},
}


def _preset(name: str, method: str, budget: Budget, iterations: int, batch_real: int) -> dict[str, int]:
    """The preset's budget, overridden by the suite's iteration budget or explicit parameters (0 = preset)."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; use one of {sorted(PRESETS)}")
    p = dict(PRESETS[name][method])
    p["iterations"] = budget.iterations or iterations or p["iterations"]
    p["batch_real"] = batch_real or p["batch_real"]
    return p


def _start(data: RealData, budget: Budget, seed: int, device: torch.device, augment: str,
           lr_img: float) -> tuple[torch.Generator, Synthetic, nn.Module, torch.optim.Optimizer]:
    """What every matching method starts from: its generator, real-initialised images, the
    augmentation and SGD (momentum 0.5, the papers') on the pixels."""
    gen = generator(seed)
    syn = init_from_real(data, budget.ipc, gen, device)
    aug = build_augmentation(augment, data.channels, bool(data.info.get("hflip", False))).to(device)
    return gen, syn, aug, torch.optim.SGD([syn.images], lr=pixel_lr(data, lr_img), momentum=0.5)


def gradient_matching(data: RealData, budget: Budget, seed: int, device: torch.device, augment: str, model: str,
                      preset: str, lr_img: float, lr_net: float, iterations: int, batch_real: int) -> DistilledSet:
    """DC (augment 'none') / DSA (augment 'dsa'): match per-class gradients of fresh networks."""
    p = _preset(preset, "dc", budget, iterations, batch_real)
    gen, syn, aug, img_opt = _start(data, budget, seed, device, augment, lr_img)
    outer, inner = DC_LOOPS[max(k for k in DC_LOOPS if k <= budget.ipc)]
    inner = min(inner, p["inner_cap"]) if p["inner_cap"] else inner
    p["iterations"] = p["iterations"] or max(10, p["updates"] // outer)
    loop = LoopState({"images": syn.images}, {"images": img_opt}, gen)
    fingerprint = loop_fingerprint(data, budget, seed, device, method="gradient_matching", augment=augment, model=model,
                                   preset=p, lr_img=lr_img, lr_net=lr_net, outer=outer, inner=inner)
    start = time.perf_counter()
    for _ in resumable_loop(budget, p["iterations"], loop, fingerprint):
        net = build_model(model, data.num_classes, data.channels, data.size)[0].to(device).train()
        params = [q for q in net.parameters() if q.requires_grad]
        net_opt = torch.optim.SGD(params, lr=lr_net)
        total = 0.0
        for ol in range(outer):
            loss = torch.zeros((), device=device)
            for c in range(data.num_classes):
                xr, xs = siamese(aug, real_batch(data, c, p["batch_real"], gen, device), syn.of_class(c))
                yr, ys = (torch.full((len(b),), c, device=device) for b in (xr, xs))
                g_real = torch.autograd.grad(F.cross_entropy(net(data.normalize(xr)), yr), params)
                g_syn = torch.autograd.grad(F.cross_entropy(net(data.normalize(xs)), ys), params, create_graph=True)
                loss = loss + sum(layer_distance(a, b.detach()) for a, b in zip(g_syn, g_real, strict=True))
            img_opt.zero_grad(set_to_none=True)
            loss.backward()
            img_opt.step()
            syn.clamp_()
            total += float(loss.detach())
            if ol == outer - 1:
                break
            x_all, y_all = syn.images.detach(), syn.labels.to(device)
            for _ in range(inner):  # the network follows the synthetic set between matchings
                (xa,) = siamese(aug, x_all)
                net_opt.zero_grad(set_to_none=True)
                F.cross_entropy(net(data.normalize(xa)), y_all).backward()
                net_opt.step()
        loop.history.append(total / outer)
    return synthetic_artifact(syn, data, loop, start, {"outer_loop": outer, "inner_loop": inner, "augment": augment,
                                                **{f"preset_{k}": v for k, v in p.items()}})


def distribution_matching(data: RealData, budget: Budget, seed: int, device: torch.device, model: str, preset: str,
                          lr_img: float, augment: str, iterations: int, batch_real: int) -> DistilledSet:
    """DM: match per-class mean embeddings under randomly initialised networks (one per iteration)."""
    p = _preset(preset, "dm", budget, iterations, batch_real)
    gen, syn, aug, img_opt = _start(data, budget, seed, device, augment, lr_img)
    loop = LoopState({"images": syn.images}, {"images": img_opt}, gen)
    fingerprint = loop_fingerprint(data, budget, seed, device, method="distribution_matching", augment=augment,
                                   model=model, preset=p, lr_img=lr_img)
    start = time.perf_counter()
    for _ in resumable_loop(budget, p["iterations"], loop, fingerprint):
        net = build_model(model, data.num_classes, data.channels, data.size)[0].to(device).train()
        for q in net.parameters():
            q.requires_grad_(False)
        loss = torch.zeros((), device=device)
        for c in range(data.num_classes):
            xr, xs = siamese(aug, real_batch(data, c, p["batch_real"], gen, device), syn.of_class(c))
            with torch.no_grad():
                mu_real = embedding(net, data.normalize(xr)).mean(0)
            loss = loss + (mu_real - embedding(net, data.normalize(xs)).mean(0)).square().sum()
        img_opt.zero_grad(set_to_none=True)
        loss.backward()
        img_opt.step()
        syn.clamp_()
        loop.history.append(float(loss.detach()))
    return synthetic_artifact(syn, data, loop, start, {"augment": augment, **{f"preset_{k}": v for k, v in p.items()}})


SMOKE = {"iterations": 6, "batch_real": 8, "model": "convnet3_w32"}  # a few seconds, for the parametrised tests


def _register(name: str, fn: Callable[..., DistilledSet], description: str, **params: Any) -> None:
    register_method(name, description=description, smoke={k: v for k, v in SMOKE.items() if k in params}, **params)(fn)


_register("dc", lambda data, budget, seed, device, **kw: gradient_matching(data, budget, seed, device, "none", **kw),
          "DC: gradient matching (Zhao et al. 2021), real-image init", model="convnet3", preset="cpu", lr_img=0.1,
          lr_net=0.01, iterations=0, batch_real=0)
_register("dsa", lambda data, budget, seed, device, **kw: gradient_matching(data, budget, seed, device, "dsa", **kw),
          "DSA: gradient matching with siamese augmentation (Zhao & Bilen 2021)", model="convnet3", preset="cpu",
          lr_img=0.1, lr_net=0.01, iterations=0, batch_real=0)
_register("dm", distribution_matching, "DM: distribution matching with random embedders (Zhao & Bilen 2023)",
          model="convnet3", preset="cpu", lr_img=1.0, augment="dsa", iterations=0, batch_real=0)

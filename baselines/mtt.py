"""``mtt``: matching training trajectories (Cazenavette et al. 2022).

Expert trajectories (parameters after every expert epoch of plain SGD on the real train split) are
trained once and cached as safetensors under <cache>/experts/, named by a hash of their recipe. Each
iteration starts a student at a random expert epoch, takes ``syn_steps`` differentiable SGD steps
on the synthetic images with a learned learning rate, and is pulled towards the expert's parameters
``expert_epochs`` later (distance normalised by how far the expert itself moved). The learned rate is
saved in the artifact (``hints.lr``) and the evaluator uses it with ``lr_from_artifact = true``:
the official code never saved it, a known reproducibility failure.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor
from torch.func import functional_call

from baselines.matching import init_from_real, loop_fingerprint, pixel_lr, synthetic_artifact
from benchmarks.artifact import DistilledSet, TrainingHints
from benchmarks.checkpoint import LoopState, resumable_loop
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.methods import Budget, register_method
from benchmarks.models import build_model
from benchmarks.paths import cache_dir
from benchmarks.seeding import generator, seed_global
from benchmarks.spec import stable_hash


@dataclass(frozen=True)
class ExpertRecipe:
    """How the expert trajectories are trained; an 'epoch' is ``steps_per_epoch`` SGD steps."""

    dataset: str
    model: str
    experts: int
    epochs: int
    steps_per_epoch: int
    batch_size: int = 128
    lr: float = 0.01
    seed: int = 0

    @property
    def key(self) -> str:
        return stable_hash(asdict(self))


def _flat(model: torch.nn.Module) -> Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()]).cpu()


def expert_trajectories(recipe: ExpertRecipe, data: RealData, device: torch.device) -> Tensor:
    """[experts, epochs + 1, P] flattened parameters, from the cache when they are there."""
    path = cache_dir() / "experts" / f"{recipe.key}.safetensors"
    if path.exists():
        return load_file(str(path))["trajectories"]
    start = time.perf_counter()
    gen = generator(recipe.seed)
    out = []
    for e in range(recipe.experts):
        seed_global(recipe.seed * 1000 + e)
        net = build_model(recipe.model, data.num_classes, data.channels, data.size)[0].to(device).train()
        opt = torch.optim.SGD(net.parameters(), lr=recipe.lr)
        traj = [_flat(net)]
        for _ in range(recipe.epochs):
            for _ in range(recipe.steps_per_epoch):
                idx = torch.randint(0, len(data.train_y), (recipe.batch_size,), generator=gen)
                loss = F.cross_entropy(net(data.normalize(data.train_x[idx].to(device))), data.train_y[idx].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            traj.append(_flat(net))
        out.append(torch.stack(traj))
    trajectories = torch.stack(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # two shards may train the same experts
    save_file({"trajectories": trajectories}, str(tmp), metadata={"recipe": json.dumps(asdict(recipe)),
                                                                  "train_s": f"{time.perf_counter() - start:.2f}"})
    tmp.replace(path)
    return trajectories


def _unflatten(flat: Tensor, shapes: dict[str, torch.Size]) -> dict[str, Tensor]:
    out, i = {}, 0
    for name, shape in shapes.items():
        n = shape.numel()
        out[name] = flat[i : i + n].view(shape)
        i += n
    return out


@register_method("mtt", smoke={"iterations": 6, "model": "convnet3_w32", "experts": 1, "expert_epoch_steps": 5,
                                "syn_steps": 2},
                 model="convnet3", iterations=200, syn_steps=10, expert_epochs=2, max_start_epoch=2,
                 experts=2, expert_epoch_steps=100, init_lr=0.01, lr_img=100.0, lr_lr=1e-5,
                 description="MTT: match expert training trajectories; learned lr saved and used by the evaluator")
def trajectory_matching(data: RealData, budget: Budget, seed: int, device: torch.device, model: str, iterations: int,
                        syn_steps: int, expert_epochs: int, max_start_epoch: int, experts: int,
                        expert_epoch_steps: int, init_lr: float, lr_img: float, lr_lr: float) -> DistilledSet:
    recipe = ExpertRecipe(data.name, model, experts, max_start_epoch + expert_epochs, expert_epoch_steps)
    t0 = time.perf_counter()
    trajectories = expert_trajectories(recipe, data, device).to(device)
    expert_s = time.perf_counter() - t0  # training the shared experts (a cache miss) lands in this artifact's wall
    seed_global(seed)
    gen = generator(seed)
    syn = init_from_real(data, budget.ipc, gen, device)
    y = syn.labels.to(device)
    net = build_model(model, data.num_classes, data.channels, data.size)[0].to(device)
    if any(True for _ in net.buffers()):
        raise UserError(f"mtt needs a model without running statistics; {model} has buffers")
    shapes = {k: p.shape for k, p in net.named_parameters()}
    syn_lr = torch.tensor(init_lr, device=device, requires_grad=True)
    img_opt = torch.optim.SGD([syn.images], lr=pixel_lr(data, lr_img), momentum=0.5)
    lr_opt = torch.optim.SGD([syn_lr], lr=lr_lr, momentum=0.5)
    loop = LoopState({"images": syn.images, "lr": syn_lr}, {"images": img_opt, "lr": lr_opt}, gen)
    fingerprint = loop_fingerprint(data, budget, seed, device, method="mtt", model=model, expert_key=recipe.key,
                                   iterations_default=iterations, syn_steps=syn_steps, expert_epochs=expert_epochs,
                                   init_lr=init_lr, lr_img=lr_img, lr_lr=lr_lr)
    start = time.perf_counter()
    for _ in resumable_loop(budget, budget.iterations or iterations, loop, fingerprint):
        e = int(torch.randint(0, experts, (1,), generator=gen))
        s = int(torch.randint(0, max_start_epoch + 1, (1,), generator=gen))
        theta0, target = trajectories[e, s], trajectories[e, s + expert_epochs]
        theta = theta0.clone().requires_grad_(True)
        x = data.normalize(syn.images)
        for _ in range(syn_steps):
            logits = functional_call(net, _unflatten(theta, shapes), (x,))
            (g,) = torch.autograd.grad(F.cross_entropy(logits, y), theta, create_graph=True)
            theta = theta - syn_lr * g
        loss = (theta - target).square().sum() / (theta0 - target).square().sum()
        img_opt.zero_grad(set_to_none=True)
        lr_opt.zero_grad(set_to_none=True)
        loss.backward()
        img_opt.step()
        lr_opt.step()
        syn.clamp_()
        with torch.no_grad():
            syn_lr.clamp_(min=1e-6)
        loop.history.append(float(loss.detach()))
    ds = synthetic_artifact(syn, data, loop, start, {"learned_lr": round(float(syn_lr.detach()), 8), "expert_key": recipe.key,
                                                        "syn_steps": syn_steps, "expert_epochs": expert_epochs,
                                                        "cost": {"expert_load_or_train_s": round(expert_s, 3)}})
    ds.hints = TrainingHints(lr=float(syn_lr.detach().reshape(1).cpu()[0]))
    return ds

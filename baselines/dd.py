"""``dd``: dataset distillation (Wang et al. 2018) with random learner initialisations.

Synthetic images start as noise and carry fixed class labels; a fresh randomly initialised learner
takes ``inner_steps`` differentiable SGD steps on the whole synthetic set, each with its own learned
learning rate; its cross-entropy on a real batch is back-propagated through all the steps into the
pixels and the learning rates (torch.func.functional_call). The learned rates are saved in the
artifact (``extras["step_lrs"]``); the shared evaluator trains with its own recipe, as it does for
every method. Defaults differ from the paper's LeNet and 0.02 initial rate: on a CPU budget a
LeNet learner barely moves in 10 steps from a random start, so the meta-gradient stays flat; a
ConvNet-3 learner with rates starting at 0.1 learns within tens of iterations (measured on digits).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch.func import functional_call

from baselines.matching import Synthetic, loop_fingerprint, synthetic_artifact
from benchmarks.artifact import DistilledSet
from benchmarks.checkpoint import LoopState, resumable_loop
from benchmarks.data import RealData
from benchmarks.methods import Budget, register_method
from benchmarks.models import build_model
from benchmarks.seeding import generator


@register_method("dd", smoke={"iterations": 6, "batch_real": 8, "model": "convnet3_w32"}, model="convnet3", iterations=300, inner_steps=10, init_lr=0.1, lr_img=0.01, batch_real=256,
                 description="DD: learned images and per-step learning rates through unrolled steps (Wang et al. 2018)")
def dataset_distillation(data: RealData, budget: Budget, seed: int, device: torch.device, model: str, iterations: int,
                         inner_steps: int, init_lr: float, lr_img: float, batch_real: int) -> DistilledSet:
    gen = generator(seed)
    n = budget.ipc * data.num_classes
    images = torch.rand(n, data.channels, data.size, data.size, generator=gen).to(device).requires_grad_(True)
    syn = Synthetic(images, torch.arange(data.num_classes).repeat_interleave(budget.ipc), budget.ipc)
    log_lr = torch.full((inner_steps,), float(torch.tensor(init_lr).log()), device=device, requires_grad=True)
    opt = torch.optim.Adam([{"params": [syn.images]}, {"params": [log_lr], "lr": lr_img}], lr=lr_img)
    y_syn = syn.labels.to(device)
    loop = LoopState({"images": syn.images, "log_lr": log_lr}, {"adam": opt}, gen)
    fingerprint = loop_fingerprint(data, budget, seed, device, method="dd", model=model, iterations_default=iterations,
                                   inner_steps=inner_steps, init_lr=init_lr, lr_img=lr_img, batch_real=batch_real)
    start = time.perf_counter()
    for _ in resumable_loop(budget, budget.iterations or iterations, loop, fingerprint):
        net = build_model(model, data.num_classes, data.channels, data.size)[0].to(device)
        params = {k: v.detach().requires_grad_(True) for k, v in net.named_parameters()}
        buffers = dict(net.named_buffers())
        x_syn = data.normalize(syn.images)
        for s in range(inner_steps):
            loss = F.cross_entropy(functional_call(net, (params, buffers), (x_syn,)), y_syn)
            grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
            params = {k: p - log_lr[s].exp() * g for (k, p), g in zip(params.items(), grads, strict=True)}
        idx = torch.randint(0, len(data.train_y), (batch_real,), generator=gen)
        outer = F.cross_entropy(functional_call(net, (params, buffers), (data.normalize(data.train_x[idx].to(device)),)),
                                data.train_y[idx].to(device))
        opt.zero_grad(set_to_none=True)
        outer.backward()
        opt.step()
        syn.clamp_()
        loop.history.append(float(outer.detach()))
    ds = synthetic_artifact(syn, data, loop, start, {"model": model, "inner_steps": inner_steps,
                                              "step_lrs": [round(float(v), 6) for v in log_lr.detach().exp()]})
    ds.extras["step_lrs"] = log_lr.detach().exp().cpu()
    return ds

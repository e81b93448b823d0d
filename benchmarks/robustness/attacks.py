"""L-inf adversarial accuracy with torchattacks, epsilon in pixel units, on a fixed seeded test subset.

The attacked module normalises inside (``NormalizedModel``), so torchattacks perturbs [0, 1] images
and epsilon means what DD-RobustBench means by it. Models stay in eval mode (BatchNorm statistics
never move) and attacks run in fp32. PGD takes a random start and steps of 2.5 eps / steps
(Madry et al. 2018; eps / 4 at 10 steps, torchattacks' own 2/255 at 8/255).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.errors import UserError
from benchmarks.registry import Registry

ATTACK_BATCH = {"cpu": 64, "cuda": 1000}  # CPU: cache-sized chunks, as the evaluator measured for training
PGD_STEP_FACTOR = 2.5  # step size = PGD_STEP_FACTOR * eps / steps


class NormalizedModel(nn.Module):
    """A classifier of [0, 1] images: the dataset's normalisation, then the model."""

    def __init__(self, model: nn.Module, normalize: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.model = model
        self.normalize = normalize

    def forward(self, x: Tensor) -> Tensor:
        return self.model(self.normalize(x))


@dataclass(frozen=True)
class AttackSettings:
    """What an attack is built with besides the model: budget, PGD steps, classes and seed."""

    eps: float
    steps: int
    num_classes: int
    seed: int


@dataclass(frozen=True)
class AttackEntry:
    """A registered attack: a torchattacks constructor and a one-line description."""

    build: Callable[[nn.Module, AttackSettings], Any]
    description: str


def _torchattacks() -> Any:
    try:
        import torchattacks
    except ImportError:
        raise UserError("adversarial robustness needs torchattacks: pip install --no-deps torchattacks==3.5.1") from None
    return torchattacks


def _fgsm(model: nn.Module, s: AttackSettings) -> Any:
    return _torchattacks().FGSM(model, eps=s.eps)


def _pgd(model: nn.Module, s: AttackSettings) -> Any:
    return _torchattacks().PGD(model, eps=s.eps, alpha=PGD_STEP_FACTOR * s.eps / s.steps, steps=s.steps,
                               random_start=True)


def _apgd(loss: str) -> Callable[[nn.Module, AttackSettings], Any]:
    def build(model: nn.Module, s: AttackSettings) -> Any:
        return _torchattacks().APGD(model, norm="Linf", eps=s.eps, steps=s.steps, n_restarts=1, loss=loss, seed=s.seed)

    return build


def _autoattack(model: nn.Module, s: AttackSettings) -> Any:
    return _torchattacks().AutoAttack(model, norm="Linf", eps=s.eps, version="standard", n_classes=s.num_classes,
                                      seed=s.seed)


ATTACKS: Registry[AttackEntry] = Registry("attack")
ATTACKS.register("fgsm", AttackEntry(_fgsm, "FGSM (Goodfellow et al. 2015), one signed-gradient step of eps"))
ATTACKS.register("pgd", AttackEntry(_pgd, "PGD (Madry et al. 2018), random start, steps of 2.5 eps / steps"))
ATTACKS.register("apgd-ce", AttackEntry(_apgd("ce"), "APGD with the cross-entropy loss (Croce & Hein 2020), "
                                       "step size adapted per step; `pgd_steps` iterations, one restart"))
ATTACKS.register("apgd-dlr", AttackEntry(_apgd("dlr"), "APGD with the DLR loss (Croce & Hein 2020), which no "
                                         "rescaling of the logits flattens; `pgd_steps` iterations, one restart"))
ATTACKS.register("autoattack", AttackEntry(_autoattack, "AutoAttack standard (Croce & Hein 2020): slow, optional"))


def attack_subset(x: Tensor, y: Tensor, size: int, seed: int) -> tuple[Tensor, Tensor]:
    """A fixed, seeded subset of ``size`` test images (all of them if there are fewer), in index order."""
    if size >= len(y):
        return x, y
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:size].sort().values
    return x[idx], y[idx]


def _correct(model: nn.Module, x: Tensor, y: Tensor) -> int:
    with torch.no_grad():
        return int((model(x).argmax(1) == y).sum())


def adversarial_examples(model: NormalizedModel, attack: str, x: Tensor, y: Tensor, eps: float, steps: int,
                         num_classes: int, seed: int, device: torch.device) -> Tensor:
    """Attacked copies of (x, y) on ``device``, crafted in fp32 batches from one seeded random state; the model
    is put in eval mode (and left there) so that no BatchNorm statistic moves. Also the source of a transfer
    attack: the copies crafted on one model can be scored on another with ``clean_accuracy``."""
    entry = ATTACKS.get(attack)
    model.eval()
    if not 0.0 <= eps <= 1.0:
        raise UserError(f"epsilon {eps} is outside [0, 1] (pixel units)")
    atk = entry.build(model, AttackSettings(float(eps), steps, num_classes, seed))
    batch = ATTACK_BATCH.get(device.type, 500)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.autocast(device.type, enabled=False):
        torch.manual_seed(seed)
        return torch.cat([atk(x[i : i + batch].to(device).float(), y[i : i + batch].to(device)).detach()
                          for i in range(0, len(y), batch)])  # APGD hands back images that still require grad


def adversarial_accuracy(model: NormalizedModel, attack: str, x: Tensor, y: Tensor, eps: float, steps: int,
                         num_classes: int, seed: int, device: torch.device) -> float:
    """Top-1 accuracy (percent) on ``adversarial_examples`` of (x, y)."""
    adv = adversarial_examples(model, attack, x, y, eps, steps, num_classes, seed, device)
    return clean_accuracy(model, adv, y, device)


def clean_accuracy(model: NormalizedModel, x: Tensor, y: Tensor, device: torch.device) -> float:
    """fp32 accuracy (percent) on (x, y), batched as the attacks are: on the attack subset, their epsilon-0
    reference; on attacked copies, the attack's accuracy."""
    model.eval()
    batch = ATTACK_BATCH.get(device.type, 500)
    with torch.autocast(device.type, enabled=False):
        correct = sum(_correct(model, x[i : i + batch].to(device).float(), y[i : i + batch].to(device))
                      for i in range(0, len(y), batch))
    return 100.0 * correct / max(1, len(y))

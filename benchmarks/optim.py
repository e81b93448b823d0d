"""Optimizers and learning-rate schedules by name, built through timm's factories.

An entry is data (timm's optimizer name, its defaults and a default lr that trains our small
nets), not a subclass: adding an optimizer is one ``OPTIMIZERS.register`` line, and the tests
pick it up from the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from torch import nn
from torch.optim import Optimizer

from benchmarks.registry import Registry


@dataclass(frozen=True)
class OptimizerEntry:
    """timm optimizer name + fixed keyword arguments + the lr used when a cell names none."""

    timm_name: str
    lr: float
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    elementwise: bool = True  # updates each weight from its own state only (so K stacked models stay independent)


OPTIMIZERS: Registry[OptimizerEntry] = Registry("optimizer")
OPTIMIZERS.register("sgd", OptimizerEntry("momentum", 0.05, {"momentum": 0.0}, "plain SGD, no momentum"))
OPTIMIZERS.register("momentum", OptimizerEntry("momentum", 0.01, {"momentum": 0.9}, "SGD, momentum 0.9 (the field's evaluator)"))
OPTIMIZERS.register("nesterov", OptimizerEntry("nesterov", 0.01, {"momentum": 0.9}, "SGD, Nesterov momentum 0.9"))
OPTIMIZERS.register("adam", OptimizerEntry("adam", 1e-3, {}, "Adam"))
OPTIMIZERS.register("adamw", OptimizerEntry("adamw", 1e-3, {}, "AdamW, decoupled weight decay"))
OPTIMIZERS.register("rmsprop", OptimizerEntry("rmsprop", 5e-4, {}, "RMSprop (alpha 0.9)"))
OPTIMIZERS.register("lamb", OptimizerEntry("lamb", 5e-3, {}, "LAMB, layer-wise adaptive Adam", elementwise=False))
OPTIMIZERS.register("lion", OptimizerEntry("lion", 1e-4, {}, "Lion, sign momentum"))
OPTIMIZERS.register("adan", OptimizerEntry("adan", 2e-3, {}, "Adan, adaptive Nesterov momentum"))
OPTIMIZERS.register("radam", OptimizerEntry("radam", 1e-3, {}, "RAdam, rectified Adam"))
OPTIMIZERS.register("adabelief", OptimizerEntry("adabelief", 1e-3, {}, "AdaBelief"))


def build_optimizer(model: nn.Module | list[dict[str, Any]], name: str, lr: float | None,
                    weight_decay: float) -> Optimizer:
    """A timm optimizer over a model (no weight decay on norms and biases) or explicit param groups."""
    entry = OPTIMIZERS.get(name)
    return create_optimizer_v2(
        model, opt=entry.timm_name, lr=entry.lr if lr is None else lr, weight_decay=weight_decay, **entry.kwargs
    )


def half_budget(steps: int, epochs: int | None) -> int:
    """The midpoint of the step budget: the decay milestone of ``step``."""
    return max(1, steps // 2)


def dc_milestone(steps: int, epochs: int | None) -> int:
    """The step after which DC's ``evaluate_synset`` decays: it trains ``epochs`` = Epoch + 1 epochs and decays
    once epoch index Epoch // 2 + 1 is done, i.e. after Epoch // 2 + 2 epochs (the midpoint without epochs)."""
    if not epochs:
        return half_budget(steps, epochs)
    return min(steps, ((epochs - 1) // 2 + 2) * max(1, steps // epochs))


@dataclass(frozen=True)
class ScheduleEntry:
    """A timm scheduler name, how its arguments follow from the step budget, and whether the optimizer's state
    (momentum) starts afresh at the milestone, as when a paper's loop builds a new optimizer there."""

    timm_name: str | None
    description: str
    milestone: Callable[[int, int | None], int] = half_budget  # (steps, epochs) -> decay step
    reset_state: bool = False
    # timm's multistep decays once update count + 1 reaches the milestone (one update early); a shift of 1 makes
    # exactly `milestone` updates run at the base lr ("step" keeps its historical unshifted timing)
    timm_shift: int = 0


SCHEDULES: Registry[ScheduleEntry] = Registry("schedule")
SCHEDULES.register("constant", ScheduleEntry(None, "fixed learning rate"))
SCHEDULES.register("cosine", ScheduleEntry("cosine", "cosine decay to 0 over the step budget"))
SCHEDULES.register("step", ScheduleEntry("multistep", "lr x0.1 at half the budget (the field's evaluator)"))
# DC/DSA/DM/MTT's evaluate_synset: lr x0.1 after epoch Epoch//2+1 with a new SGD optimizer (momentum reset).
SCHEDULES.register("dc_step", ScheduleEntry("multistep", "lr x0.1 after epoch Epoch//2+1 of Epoch+1, momentum reset "
                                                         "(DC/DSA/DM/MTT's evaluate_synset)", dc_milestone, True, 1))


def build_schedule(optimizer: Optimizer, name: str, steps: int, epochs: int | None = None) -> Any:
    """A timm scheduler stepped per optimizer update (``.step_update(t)``), or None for constant."""
    entry = SCHEDULES.get(name)
    if entry.timm_name is None:
        return None
    sched, _ = create_scheduler_v2(
        optimizer, sched=entry.timm_name, num_epochs=steps, decay_milestones=[entry.milestone(steps, epochs) + entry.timm_shift],
        decay_rate=0.1, step_on_epochs=False, updates_per_epoch=1,
    )
    return sched


def state_resets(name: str, steps: int, epochs: int | None = None) -> frozenset[int]:
    """Numbers of completed updates after which the optimizer's state is cleared (a fresh optimizer)."""
    entry = SCHEDULES.get(name)
    return frozenset({entry.milestone(steps, epochs)}) if entry.reset_state else frozenset()

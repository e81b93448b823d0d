"""The method contract: ``distill(data, budget, seed, device, **params) -> DistilledSet``.

Methods live in ``methods/`` and ``baselines/`` and register themselves here by name; the
harness finds them through the ``ddbench.plugins`` entry points and never imports them by name.
``run_method`` is the one way a method is called: it withholds the test split, checks the
parameters, and stamps the artifact with what made it and what it cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from benchmarks import progress
from benchmarks.artifact import DistilledSet
from benchmarks.cost import distill_seconds, peak_memory_bytes, provenance, reset_peak_memory, timed
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.registry import Registry
from benchmarks.seeding import seed_global
from benchmarks.validate import check_params


@dataclass(frozen=True)
class Budget:
    """Images (or base examples) per class, and an optional distillation compute budget.

    ``iterations`` replaces the method's own iteration count; ``seconds`` caps the wall time of its
    distillation loop (setup such as cached expert training is not counted). A seconds cap depends
    on the machine, so the records it makes reproduce only through their ``iterations_run``."""

    ipc: int | None
    iterations: int | None = None
    seconds: float | None = None


def budget_loop(budget: Budget, iterations: int) -> Iterator[int]:
    """Indices 0..iterations-1 of a distillation loop, ending early once ``budget.seconds`` have passed
    (at least one iteration always runs, so every artifact has moved from its start)."""
    deadline = None if budget.seconds is None else time.perf_counter() + budget.seconds
    with progress.bar(total=iterations, desc="iterations", unit="it") as bar:
        for i in range(iterations):
            if i and deadline is not None and time.perf_counter() >= deadline:
                return
            yield i
            bar.update(1)


DistillFn = Callable[..., DistilledSet]


@dataclass(frozen=True)
class MethodEntry:
    """A registered method: its function, default parameters and what kind of labels it makes."""

    fn: DistillFn
    params: dict[str, Any] = field(default_factory=dict)
    label_kind: str = "hard"
    uses_ipc: bool = True
    description: str = ""
    smoke: dict[str, Any] = field(default_factory=dict)  # parameters that make it run in seconds (the tests use them)


METHODS: Registry[MethodEntry] = Registry("method", needs_plugins=True)


def register_method(name: str, *, label_kind: str = "hard", uses_ipc: bool = True, description: str = "",
                    smoke: dict[str, Any] | None = None, **params: Any) -> Callable[[DistillFn], DistillFn]:
    """Decorator: ``@register_method("herding", feature_model="convnet3")`` over a distill function.
    ``smoke`` overrides parameters so that the method runs in seconds: the parametrised tests use it."""
    smoke = dict(smoke or {})
    if set(smoke) - set(params):
        raise ValueError(f"method {name!r}: smoke parameters {sorted(set(smoke) - set(params))} are not parameters")

    def wrap(fn: DistillFn) -> DistillFn:
        METHODS.register(name, MethodEntry(fn, params, label_kind, uses_ipc,
                                           description or (fn.__doc__ or "").strip(), smoke))
        return fn

    return wrap


def resolve_params(name: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The method's defaults overridden by ``params``; unknown parameter names are a user error."""
    entry = METHODS.get(name)
    params = dict(params or {})
    unknown = set(params) - set(entry.params)
    if unknown:
        raise UserError(f"method {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(entry.params) or 'none'}")
    check_params(params, entry.params, f"method {name!r}")
    return {**entry.params, **params}


def run_method(name: str, data: RealData, budget: Budget, seed: int, device: torch.device,
               params: dict[str, Any] | None = None) -> DistilledSet:
    """Distil with a registered method and fill in the artifact's metadata and cost."""
    entry = METHODS.get(name)
    resolved = resolve_params(name, params)
    if entry.uses_ipc and (budget.ipc is None or budget.ipc < 1):
        raise UserError(f"method {name!r} needs a budget of at least 1 image per class")
    if budget.iterations is not None and budget.iterations < 1:
        raise UserError(f"an iterations budget must be at least 1 (got {budget.iterations}); leave it out for the default")
    smallest = int(torch.bincount(data.train_y).min()) if len(data.train_y) else 0
    if entry.uses_ipc and budget.ipc > smallest:
        raise UserError(f"ipc {budget.ipc} is more than the {smallest} training images of {data.name}'s smallest class")
    if budget.seconds is not None and not budget.seconds > 0:
        raise UserError(f"a seconds budget must be positive (got {budget.seconds}); leave it out for no cap")
    seed_global(seed)
    reset_peak_memory(device)
    cpu0 = time.process_time()
    with timed(device) as t, progress.stage(f"distill {name}" + (f" ipc={budget.ipc}" if entry.uses_ipc else "")):
        ds = entry.fn(data.for_distillation(), budget, seed, device, **resolved)
    ds.meta.update({
        "method": name,
        "params": resolved,
        "dataset": data.name,
        "classes": list(data.classes),
        "ipc": budget.ipc if entry.uses_ipc else None,
        "iterations": budget.iterations,
        **({"budget_seconds": budget.seconds} if budget.seconds is not None else {}),
        "seed": seed,
    })
    cost = ds.meta.setdefault("cost", {})
    cost.update({**distill_seconds(cost, t.seconds, time.process_time() - cpu0), "peak_mem_bytes": peak_memory_bytes(device)})
    ds.meta["provenance"] = provenance(device)
    ds.validate()
    return ds

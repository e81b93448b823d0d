"""The one evaluator: train fresh models on a DistilledSet (``benchmarks.training``), select on validation, test once.

Selection (the lr grid) reads the validation split only; the test split is read once, at the final
step of the selected run. Every seed derives from ``EvalConfig.seed``. What an artifact suggests for
its training (steps, lr) is read from its typed ``hints``, never from a method's private metadata.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from benchmarks import progress
from benchmarks.artifact import DistilledSet
from benchmarks.cost import count_flops, matmul_peak_flops, mfu_fields, peak_memory_bytes, reset_peak_memory, timed
from benchmarks.data import RealData
from benchmarks.energy import datasheet_peak_flops, measured
from benchmarks.metrics import accuracy, val_subset
from benchmarks.protocols import steps_for
from benchmarks.spec import EvalConfig, resolve_stacking
from benchmarks.training import FLOP_PROBE, TrainResult, stackable, train_group
from benchmarks.tuning import choose_lr, choose_steps


def apply_hints(cfg: EvalConfig, ds: DistilledSet) -> EvalConfig:
    """The step count (from ``epochs`` over the set's size, when given) and learning rate the artifact suggests,
    where the config asks for them, and the config's steps offset applied (never below one step)."""
    steps = ds.hints.steps if cfg.steps_from_artifact and ds.hints.steps else cfg.steps
    if cfg.epochs is not None:
        steps = steps_for(cfg.epochs, len(ds.images), cfg.batch_size)
    if cfg.steps_offset:
        steps = max(1, steps + cfg.steps_offset)
    lr = ds.hints.lr if cfg.lr_from_artifact and ds.hints.lr else cfg.lr
    return replace(cfg, steps=steps, steps_offset=0, lr=lr)


def reads_hints(cfg: EvalConfig) -> bool:
    """Whether ``apply_hints`` reads the artifact for ``cfg`` (its size or its suggested steps or lr): where it does
    not, the fair protocol's search at an ipc needs only the reference set, not the cell's artifact."""
    return cfg.epochs is not None or cfg.steps_from_artifact or cfg.lr_from_artifact


def fair_choices(cfg: EvalConfig, ds: DistilledSet, data: RealData,
                 device: torch.device) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The fair per-architecture protocol's lr choice and, under ``max_steps``, length choice for ``cfg`` as it
    executes on ``device`` (hints applied); (None, None) for a fixed recipe."""
    if not cfg.lr_per_architecture:
        return None, None
    cfg = apply_hints(cfg, ds).for_device(device)  # both idempotent: a config already executing stays as it is
    tuning = choose_lr(cfg, ds, data, device)
    return tuning, choose_steps(cfg, tuning, ds, data, device) if cfg.max_steps else None


def use_stacked(cfgs: list[EvalConfig], data: RealData, device: torch.device) -> bool:
    """The measured policy: stack where it pays on this device type and the cells allow it."""
    same = all(replace(c, seed=0) == replace(cfgs[0], seed=0) for c in cfgs)
    return resolve_stacking(len(cfgs), device, same and stackable(cfgs[0], data))


def evaluate(ds: DistilledSet, data: RealData, cfg: EvalConfig, device: torch.device) -> dict[str, Any]:
    """Train (selecting lr, and under ``max_steps`` the length, on validation) and test once; metrics, cost, execution."""
    return evaluate_seeds([ds], data, [cfg], device)[0]


def evaluate_seeds(dss: list[DistilledSet], data: RealData, cfgs: list[EvalConfig],
                   device: torch.device, stacked: bool | None = None) -> list[dict[str, Any]]:
    """Evaluate cells that differ only in seed (and so artifact); stacked into one computation
    where ``use_stacked`` says it pays (or as forced by ``stacked``)."""
    cfgs = [apply_hints(c, ds).for_device(device) for c, ds in zip(cfgs, dss, strict=True)]
    for c in cfgs:
        c.check()
    stack = use_stacked(cfgs, data, device) if stacked is None else stacked and len(cfgs) > 1
    stack = stack and not any(ds.label_kind == "online" for ds in dss)  # the teacher runs per model
    reset_peak_memory(device)
    vx, vy = val_subset(data, cfgs[0].val_size)
    base = cfgs[0].base_lr()
    with timed(device) as searched:  # nothing where the choices are cached
        tuning, length = fair_choices(cfgs[0], dss[0], data, device)
    if length:
        cfgs = [replace(c, steps=length["steps"]) for c in cfgs]
    grid = [tuning["lr"]] if tuning else [base * m for m in cfgs[0].lr_grid] or [base]
    k = len(cfgs)
    best: list[tuple[float, TrainResult] | None] = [None] * k
    tried: list[dict[str, float]] = [{} for _ in range(k)]
    train_s = [0.0] * k
    with measured(device) as total:
        candidates = progress.bar(grid, desc="lr grid", unit="lr") if len(grid) > 1 else grid
        for lr in candidates:
            for j, res in enumerate(train_group(dss, data, cfgs, lr, device, stacked=stack)):
                train_s[j] += res.train_s
                val = accuracy(res.model, data, vx, vy, device, cfgs[j].precision, res.eval_batch, res.predict)
                tried[j][f"{lr:.6g}"] = round(val, 4)
                if best[j] is None or val > best[j][0]:  # type: ignore[index]
                    best[j] = (val, res)
            if len(grid) > 1:
                candidates.set_postfix_str(f"best val {max(b[0] for b in best if b is not None):.1f}%")
        tests = []
        for j, c in enumerate(cfgs):
            with timed(device) as test_t:
                chosen = best[j][1]  # type: ignore[index]
                acc = accuracy(chosen.model, data, data.test_x, data.test_y, device, c.precision,
                               chosen.eval_batch, chosen.predict)
            tests.append((acc, test_t.seconds))
    panels = [_panel(best[j][1], data, c, device) for j, c in enumerate(cfgs)]  # type: ignore[index]
    test_flops = _test_flops(best[0][1].model, data)  # type: ignore[index]
    tabled = datasheet_peak_flops(total.hardware.get("name", ""), cfgs[0].precision) if device.type == "cuda" else None
    peak = tabled or matmul_peak_flops(str(device), cfgs[0].precision)
    hw_cost = {"peak_source": "datasheet" if tabled else "measured", **total.fields(share=k)}  # energy: 1/k each
    out = []
    for j, c in enumerate(cfgs):
        val_acc, chosen = best[j]  # type: ignore[misc]
        test_acc, test_s = tests[j]
        result = _result(c, dss[j], chosen, val_acc, test_acc, tried[j], train_s[j], test_s, total.seconds / k,
                         len(grid), test_flops, peak, device, hw_cost)
        out.append(_attach(result, tuning, length, searched.seconds / k, panels[j]))
    return out


def _attach(result: dict[str, Any], tuning: dict[str, Any] | None, length: dict[str, Any] | None, tuning_s: float,
            panel: dict[str, Any] | None) -> dict[str, Any]:
    """A cell's result with the fair protocol's choices (and its share of the search's seconds, running it or
    waiting for it) and the robustness panel, where there are any; timings go beside the numbers."""
    if tuning:
        result["metrics"]["lr_tuning"] = tuning
        result["cost"]["tuning_s"] = round(tuning_s, 3)
    if length:
        result["metrics"]["steps_tuning"] = length
    if panel is not None:
        panel = dict(panel)
        result["cost"]["robustness"] = panel.pop("cost")
        result["metrics"]["robustness"] = {**panel, "summary": robustness_summary(panel)}
    return result


def _panel(chosen: TrainResult, data: RealData, cfg: EvalConfig, device: torch.device) -> dict[str, Any] | None:
    """The robustness panel of the selected model, when the cell asks for one (test split only, after selection)."""
    if cfg.robustness is None:
        return None
    from benchmarks.robustness import RobustnessSpec, robustness_panel

    return robustness_panel(chosen.model, data, RobustnessSpec.from_dict(cfg.robustness), device, cfg.precision)


def robustness_summary(panel: dict[str, Any]) -> dict[str, float]:
    """The panel's headline numbers, flat, for tables: clean, mean corruption and each attack at each epsilon."""
    out = {"clean_acc": panel["clean_acc"]}
    if panel.get("mean_corruption_acc") is not None:
        out["mean_corruption_acc"] = panel["mean_corruption_acc"]
    for attack, by_eps in sorted(panel["attack_acc"].items()):
        for eps, acc in by_eps.items():
            out[f"{attack}@{eps}"] = acc
    return out


def _result(c: EvalConfig, ds: DistilledSet, chosen: TrainResult, val_acc: float, test_acc: float,
            tried: dict[str, float], train_s: float, test_s: float, wall_s: float, n_lrs: int, test_flops: int,
            peak: float, device: torch.device, hw_cost: dict[str, Any]) -> dict[str, Any]:
    """One cell's metrics, cost and execution, as the record stores them."""
    n_train = c.steps * min(c.batch_size, len(ds.images)) * n_lrs
    train_flops = chosen.flops_per_step * c.steps * n_lrs
    achieved = train_flops / train_s if train_s > 0 else 0.0
    return {
        "metrics": {
            "test_acc": round(test_acc, 4),
            "val_acc": round(val_acc, 4),
            "final_loss": round(chosen.final_loss, 6) if math.isfinite(chosen.final_loss) else None,
            "diverged": chosen.diverged,
            "lr": chosen.lr,
            "lr_val_acc": tried,
            "steps": c.steps,
        },
        "cost": {
            "wall_s": round(wall_s, 3),
            "train_s": round(train_s, 3),
            "test_s": round(test_s, 3),
            "flops": int(train_flops + test_flops),
            "train_flops": int(train_flops),
            "images_per_s": round(n_train / train_s, 1) if train_s > 0 else None,
            "achieved_flops_per_s": round(achieved, 1),
            **mfu_fields(achieved, peak),
            "peak_mem_bytes": peak_memory_bytes(device),
            **hw_cost,
        },
        "execution": {"precision": c.precision, "compiled": chosen.compiled, "stacked_models": chosen.stacked,
                      "channels_last": chosen.channels_last},
        "adaptation": chosen.adaptation,
    }


def _test_flops(model: nn.Module, data: RealData) -> int:
    device = next(model.parameters()).device
    probe = data.test_x[:FLOP_PROBE].to(device)
    m = copy.deepcopy(model).eval()
    with torch.inference_mode():
        return count_flops(lambda: m(data.normalize(probe))) * len(data.test_x) // max(1, len(probe))

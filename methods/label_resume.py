"""A label-distillation run's loop state as tensors + JSON, and back: what ``distill_labels`` saves at each
selection point (``benchmarks/checkpoint.py``) so that a killed run resumes to the artifact an uninterrupted one
gives, bit for bit."""

from __future__ import annotations

from collections import deque
from typing import Any

import torch
from torch import Tensor

from benchmarks import checkpoint


# ``run`` below is a ``methods.label_distillation.LabelRun`` (not imported: that module imports this one)
def snapshot(run: Any, it: int, best: tuple[float, Tensor, int, int], history: list[float],
              checks: list[list[float]], check_s: list[float], cpu_s: float | None) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Everything the loop carries from one iteration to the next, for ``checkpoint.save`` (``methods/label_distillation.py`` calls it at each selection point)."""
    meta_tensors, meta_info = run.meta.state()
    opt_tensors, opt_info = checkpoint.optimizer_state("label_opt", run.label_opt)
    t = run.tracker
    tensors = {"labels": run.labels, "best_labels": best[1], **checkpoint.rng_state(run.gen, run.device),
               "history": torch.tensor(history, dtype=torch.float64),  # exact, and NaN-safe unlike JSON
               **opt_tensors, **{f"meta/{k}": v for k, v in meta_tensors.items()}}
    info = {"iteration": it, "best": [best[0], best[2], best[3]], "checks": checks,
            "check_s": check_s, "cpu_s": None if cpu_s is None else round(cpu_s, 3), "label_opt": opt_info, "meta": meta_info,
            "label_sched": run.label_sched.state_dict() if run.label_sched is not None else None,
            "tracker": {"errors": list(t.errors), "best": None if t.best == float("inf") else t.best, "best_step": t.best_step, "step": t.step,
                        "lengths": t.lengths}}
    return tensors, info


def restore(run: Any, tensors: dict[str, Tensor], info: dict[str, Any]) -> tuple[
        int, tuple[float, Tensor, int, int], list[float], list[list[float]], list[float]]:
    """Put a saved state back into ``run``; returns the iteration it was saved at and the driver's own state."""
    dev = run.device
    with torch.no_grad():
        run.labels.copy_(tensors["labels"].to(dev))
    checkpoint.load_optimizer_state("label_opt", run.label_opt, tensors, info["label_opt"])
    if run.label_sched is not None:
        run.label_sched.load_state_dict(info["label_sched"])
    run.meta.load_state({k[5:]: v.to(dev) for k, v in tensors.items() if k.startswith("meta/")}, info["meta"])
    tr = info["tracker"]
    t = run.tracker
    t.errors, t.best_step, t.step, t.lengths = deque(tr["errors"]), tr["best_step"], tr["step"], tr["lengths"]
    t.best = float("inf") if tr["best"] is None else tr["best"]
    checkpoint.load_rng_state(tensors, run.gen, dev)
    val, steps, best_it = info["best"]
    best = (float(val), tensors["best_labels"].to(dev), int(steps), int(best_it))
    return int(info["iteration"]), best, tensors["history"].tolist(), info["checks"], info["check_s"]

"""The robustness panel's cost for one trained model, next to the clean evaluation's (issue 18, "Speed").

``python -m benchmarks.perf.bench_robustness`` trains one ``--model`` on a random ``--ipc`` set of
``--dataset`` with the evaluator (its defaults: 300 steps, precision "auto"), times the evaluator's
clean test pass, then runs the default panel twice: first with an empty corruption cache (the
corrupted test splits are generated), then with the cache warm (what every later model pays).
It prints JSON and, with ``--out``, writes it there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.allocator import keep_freed_memory
from benchmarks.data import load_dataset
from benchmarks.methods import Budget, run_method
from benchmarks.metrics import accuracy
from benchmarks.robustness import RobustnessSpec, robustness_panel
from benchmarks.spec import EvalConfig
from benchmarks.training import train


def measure(dataset: str, model: str, ipc: int, steps: int, subset: int, device: torch.device) -> dict[str, Any]:
    """Train once, time the clean test pass and a cold- and warm-cache panel; return the numbers."""
    data = load_dataset(dataset)
    ds = run_method("random", data, Budget(ipc), 0, device)
    cfg = EvalConfig(model=model, steps=steps).for_device(device)
    start = time.perf_counter()
    res = train(ds, data, cfg, cfg.base_lr(), device)
    t = time.perf_counter()
    test_acc = accuracy(res.model, data, data.test_x, data.test_y, device, cfg.precision, res.eval_batch, res.predict)
    test_s = time.perf_counter() - t
    clean_eval_s = time.perf_counter() - start
    spec = RobustnessSpec(subset=subset)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["DDBENCH_CACHE"] = cache  # an empty corruption cache: the first panel generates it
        cold = robustness_panel(res.model, data, spec, device, cfg.precision)
        warm = robustness_panel(res.model, data, spec, device, cfg.precision)
    return {
        "dataset": dataset, "model": model, "ipc": ipc, "steps": steps, "precision": cfg.precision,
        "device": str(device), "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__, "test_images": len(data.test_y), "attack_subset": warm["attack_subset"],
        "clean_eval": {"wall_s": round(clean_eval_s, 3), "train_s": round(res.train_s, 3),
                       "test_s": round(test_s, 3), "test_acc": round(test_acc, 4), "compiled": res.compiled},
        "panel_cold_cache": cold["cost"], "panel_warm_cache": warm["cost"],
        "panel_over_clean_eval": round(warm["cost"]["wall_s"] / clean_eval_s, 3),
        "panel_over_test_pass": round(warm["cost"]["wall_s"] / test_s, 3),
        "results": {k: warm[k] for k in ("clean_acc", "mean_corruption_acc", "corruption_acc", "attack_clean_acc",
                                         "attack_acc")},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--model", default="convnet3")
    p.add_argument("--ipc", type=int, default=10)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--subset", type=int, default=1000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    args = p.parse_args()
    keep_freed_memory()  # as the ddbench command does
    result = measure(args.dataset, args.model, args.ipc, args.steps, args.subset, torch.device(args.device))
    text = json.dumps(result, indent=1, sort_keys=True)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

"""Whether bf16 autocast keeps an architecture's accuracy: a suite's cells trained in fp32 and in bf16 with the same
set, seed, lr and length, paired per seed - the evidence ``policy.BF16_VERIFIED`` admits an architecture on.

``python -m benchmarks.perf.bf16_check --suite cross-arch-fair --models vgg11_dc --seeds 0 1 --threads 1`` evaluates
each model's ``--method`` cells (default random) at the recipe the suite's fp32 records of that model chose (the fair
protocol's lr and length: one choice per architecture and ipc, so every seed shares it). The fp32 arm is the stored
record's test accuracy where the suite holds one made at fp32 with this thread count (``pin_runtime`` makes a cell
repeat bit for bit; ``--rerun-fp32`` trains it anyway and reports whether it matched), else it is trained here. The
verdict is policy's bar: the mean paired difference within ``policy.BF16_MAX_DIFF`` points.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from benchmarks import policy
from benchmarks.perf.bench_files import write_bench
from benchmarks.spec import Cell, EvalConfig
from benchmarks.store import Store
from benchmarks.suite import Suite, load_suite


def suite_cells(suite: Suite, model: str, method: str, seeds: list[int]) -> list[Cell]:
    """The suite's cells of ``method`` on ``model`` at ``seeds`` (cross-entropy rows where a method has several)."""
    cells = [c for c in suite.cells() if c.eval.model == model and c.method == method and c.eval.seed in seeds]
    by_seed: dict[int, Cell] = {}
    for c in cells:
        by_seed.setdefault(c.eval.seed, c)
    missing = sorted(set(seeds) - set(by_seed))
    if missing:
        raise SystemExit(f"{suite.name} has no {method} cell on {model} at seed(s) {missing}")
    return [by_seed[s] for s in seeds]


def fp32_records(store: Store, model: str) -> dict[str, dict[str, Any]]:
    """The suite's stored fp32 records of ``model`` by key."""
    return {r["key"]: r for r in store.records() if r.get("status") == "ok"
            and r["config"]["eval"]["model"] == model and r.get("execution", {}).get("precision") == "fp32"}


def fixed_recipe(cfg: EvalConfig, records: list[dict[str, Any]], lr: float | None = None,
                 steps: int | None = None) -> tuple[EvalConfig, str]:
    """``cfg`` with the fair protocol's choices (from any of ``records``: they share one per architecture and ipc)
    made fixed, so both arms train the same lr for the same steps; the config unchanged for a fixed recipe. ``lr``
    (and ``steps``) given: that recipe instead, for an architecture no record has chosen one for yet."""
    if lr is not None:
        steps = steps or cfg.steps
        return (replace(cfg, lr=lr, lr_grid=(), lr_per_architecture=False, max_steps=None, steps=steps),
                f"lr {lr:.4g} and {steps} steps, given (not chosen by the suite)")
    if not cfg.lr_per_architecture:
        return cfg, "the suite's fixed recipe"
    for r in records:
        lr_choice, length = r["metrics"].get("lr_tuning"), r["metrics"].get("steps_tuning")
        if lr_choice and (length or not cfg.max_steps):
            steps = length["steps"] if length else cfg.steps
            fixed = replace(cfg, lr=lr_choice["lr"], lr_grid=(), lr_per_architecture=False, max_steps=None, steps=steps)
            return fixed, f"lr {lr_choice['lr']:.4g} and {steps} steps, as the fp32 record {r['key']} chose"
    raise SystemExit(f"no fp32 record of {cfg.model} carries the fair protocol's choices: run the suite's cells first")


def train_arm(cell: Cell, cfg: EvalConfig, precision: str, device: torch.device) -> dict[str, Any]:
    """One evaluation of the cell's set at ``precision``: test accuracy and its CPU and wall seconds."""
    from benchmarks.data import load_dataset
    from benchmarks.evaluator import evaluate
    from benchmarks.runner import get_artifact

    ds = get_artifact(cell, device, None)
    data = load_dataset(cell.dataset)
    cpu, wall = time.process_time(), time.perf_counter()
    result = evaluate(ds, data, replace(cfg, precision=precision), device)
    return {"test_acc": result["metrics"]["test_acc"], "cpu_s": round(time.process_time() - cpu, 1),
            "wall_s": round(time.perf_counter() - wall, 1), "execution": result["execution"], "source": "trained"}


def stored_arm(record: dict[str, Any] | None, threads: int) -> dict[str, Any] | None:
    """The fp32 arm as the suite stored it, where the record ran at ``threads`` threads."""
    if record is None or record.get("provenance", {}).get("threads") != threads:
        return None
    return {"test_acc": record["metrics"]["test_acc"], "wall_s": record["cost"].get("wall_s"),
            "source": f"record {record['key']}"}


def check_model(suite: Suite, store: Store, model: str, method: str, seeds: list[int], rerun_fp32: bool,
                device: torch.device, recipe: tuple[float | None, int | None] = (None, None)) -> dict[str, Any]:
    """Both arms for every seed of ``model`` (at the records' choices, or at ``recipe``'s lr and steps where
    given), the paired differences and the verdict."""
    records = fp32_records(store, model)
    cells = suite_cells(suite, model, method, seeds)
    cfg, recipe_text = fixed_recipe(cells[0].eval, list(records.values()), *recipe)
    rows = []
    for cell in cells:
        cell_cfg = replace(cfg, seed=cell.eval.seed, order_seed=cell.eval.order_seed)
        stored = stored_arm(records.get(cell.key), torch.get_num_threads()) if recipe == (None, None) else None
        fp32 = train_arm(cell, cell_cfg, "fp32", device) if rerun_fp32 or stored is None else stored
        if rerun_fp32 and stored is not None:
            fp32["record_test_acc"] = stored["test_acc"]
        bf16 = train_arm(cell, cell_cfg, "bf16", device)
        rows.append({"seed": cell.eval.seed, "fp32": fp32, "bf16": bf16,
                     "diff": round(bf16["test_acc"] - fp32["test_acc"], 2)})
        print(f"  {model} seed {cell.eval.seed}: fp32 {fp32['test_acc']:.2f} ({fp32['source']}), "
              f"bf16 {bf16['test_acc']:.2f} in {bf16['wall_s']} s", flush=True)
    diffs = [r["diff"] for r in rows]
    mean = statistics.fmean(diffs)
    return {"model": model, "method": method, "recipe": recipe_text, "seeds": rows, "mean_diff": round(mean, 2),
            "std_diff": round(statistics.stdev(diffs), 2) if len(diffs) > 1 else None,
            "verified": abs(mean) <= policy.BF16_MAX_DIFF}


def _seconds(s: float | None) -> str:
    return "-" if s is None else f"{s:.0f}"


def markdown(doc: dict[str, Any]) -> str:
    lines = ["# bf16 against fp32, cell by cell", "",
             f"Suite `{doc['suite']}`: each architecture's `{doc['method']}` sets (MNIST) trained twice with the same "
             "seed, set, lr and length, in fp32 and under bf16 autocast; test accuracy (%), bf16 - fp32 per seed. "
             f"Verified: the mean difference within {doc['max_diff']} points (`benchmarks/policy.py`). Wall seconds "
             "per evaluation as each arm ran (a record's under the load of its own run: not a speed comparison).", "",
             "| model | recipe | seed | fp32 | fp32 from | bf16 | bf16 - fp32 | wall s fp32 | wall s bf16 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m in doc["models"]:
        for r in m["seeds"]:
            lines.append(f"| {m['model']} | {m['recipe']} | {r['seed']} | {r['fp32']['test_acc']:.2f} | "
                         f"{r['fp32']['source']} | {r['bf16']['test_acc']:.2f} | {r['diff']:+.2f} | "
                         f"{_seconds(r['fp32'].get('wall_s'))} | {_seconds(r['bf16']['wall_s'])} |")
    lines += ["", "| model | n | mean bf16 - fp32 | std | verified |", "|---|---|---|---|---|"]
    for m in doc["models"]:
        lines.append(f"| {m['model']} | {len(m['seeds'])} | {m['mean_diff']:+.2f} | {m['std_diff']} | "
                     f"{'yes' if m['verified'] else 'no'} |")
    lines += ["", "Measured:"]
    for m in doc["models"]:
        w = m["measured"]
        lines.append(f"- {m['model']}: {w['machine']}, {w['threads']} thread(s), torch {w['torch']}; {w['date']}, commit "
                     f"{w['commit']}; conditions: {w['conditions'] or 'not stated'}; `{w['command']}`")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.perf.bf16_check", description=__doc__.splitlines()[0])
    p.add_argument("--suite", required=True)
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--method", default="random")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rerun-fp32", action="store_true", help="train the fp32 arm even where a record holds it")
    p.add_argument("--lr", type=float, default=None, help="train at this lr (both arms) instead of the records' choice")
    p.add_argument("--steps", type=int, default=None, help="with --lr: this many steps (default: the suite's)")
    p.add_argument("--conditions", default=None, help="what else ran on the machine (kept beside the numbers)")
    p.add_argument("--out", default="reports/bench/bf16_check.json")
    args = p.parse_args(argv)
    from benchmarks.allocator import keep_freed_memory
    from benchmarks.cli import _compile_cache
    from benchmarks.cost import provenance, resolve_device
    from benchmarks.seeding import pin_runtime

    _compile_cache()
    keep_freed_memory()
    pin_runtime(args.threads)
    device = resolve_device("cpu")
    suite = load_suite(args.suite)
    store = Store(f"reports/{suite.name}/records")
    prov = provenance(device)
    command = "python -m benchmarks.perf.bf16_check " + " ".join(argv if argv is not None else sys.argv[1:])
    measured = {"command": command, "threads": args.threads, "machine": prov.get("device"), "torch": prov.get("torch"),
                "commit": prov.get("commit"), "date": time.strftime("%Y-%m-%d"), "conditions": args.conditions}
    models = [{**check_model(suite, store, m, args.method, args.seeds, args.rerun_fp32, device, (args.lr, args.steps)),
               "measured": measured} for m in args.models]
    out = Path(args.out)
    kept = json.loads(out.read_text())["models"] if out.is_file() else []  # other architectures' earlier checks
    doc = {"suite": suite.name, "method": args.method, "max_diff": policy.BF16_MAX_DIFF,
           "models": [m for m in kept if m["model"] not in args.models] + models}
    print(write_bench(doc, out, markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Evaluator benchmark: ddbench's evaluator against the field's standard loop, at equal steps.

``python -m benchmarks.perf.bench_evaluator`` trains, for each model x IPC on MNIST random real images,
the reference loop (``benchmarks/perf/reference.py``) and ddbench's evaluator with its defaults, over
``--seeds`` seeds each, and writes models per hour and accuracy side by side, plus what each lever
(tensor-resident data and fast test, bf16, torch.compile, stacked seeds) contributed, to
``reports/bench/evaluator_levers.json`` with machine info. Progress is saved after every setting, so an
interrupted run resumes with ``--resume``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from benchmarks.cost import bf16_supported, matmul_peak_flops, provenance, resolve_device
from benchmarks.data import load_dataset
from benchmarks.evaluator import evaluate, evaluate_seeds
from benchmarks.methods import Budget, run_method
from benchmarks.perf.reference import reference_evaluate, reference_steps
from benchmarks.spec import EvalConfig, resolve_precision


def ddbench_config(model: str, n_images: int, seed: int, epochs: int) -> EvalConfig:
    """ddbench's evaluator with the reference's recipe and step budget (precision: the default)."""
    return EvalConfig(model=model, optimizer="momentum", lr=0.01, weight_decay=5e-4, schedule="step",
                      steps=reference_steps(n_images, epochs), batch_size=256, seed=seed)


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def machine_info(device: torch.device) -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    bf16 = bf16_supported(device)  # emulated bf16 matmuls take minutes on CPUs without it: not measured there
    return {**provenance(device), "cpu": cpu or platform.processor(), "threads": torch.get_num_threads(),
            "bf16_supported": bf16,
            "matmul_peak_gflops_fp32": round(matmul_peak_flops(str(device), "fp32") / 1e9, 1),
            "matmul_peak_gflops_bf16": round(matmul_peak_flops(str(device), "bf16") / 1e9, 1) if bf16 else None,
            "date": time.strftime("%Y-%m-%d")}


def timed_eval(ds, data, cfg, device) -> tuple[float, float]:
    start = time.perf_counter()
    r = evaluate(ds, data, cfg, device)
    return r["metrics"]["test_acc"], time.perf_counter() - start


def run_setting(model: str, ipc: int, seeds: list[int], data, device, epochs: int) -> dict[str, Any]:
    ref_acc, ref_wall, dd_acc, dd_wall, fp32_acc, fp32_wall = [], [], [], [], [], []
    for seed in seeds:
        ds = run_method("random", data, Budget(ipc), seed, device)
        r = reference_evaluate(ds, data, model, seed, epochs)
        ref_acc.append(r["test_acc"])
        ref_wall.append(r["wall_s"])
        cfg = ddbench_config(model, len(ds.images), seed, epochs)
        a, w = timed_eval(ds, data, cfg, device)
        dd_acc.append(a)
        dd_wall.append(w)
        if resolve_precision("auto", device) != "fp32" and ipc <= 10:  # the bf16 accuracy check
            a, w = timed_eval(ds, data, replace(cfg, precision="fp32"), device)
            fp32_acc.append(a)
            fp32_wall.append(w)
        print(f"  {model} ipc={ipc} seed={seed}: reference {ref_acc[-1]:.2f}% in {ref_wall[-1]:.1f}s, "
              f"ddbench {dd_acc[-1]:.2f}% in {dd_wall[-1]:.1f}s", flush=True)
    (ra, rs), (da, dsd) = _mean_std(ref_acc), _mean_std(dd_acc)
    out = {
        "model": model, "ipc": ipc, "n": len(seeds), "steps": reference_steps(ipc * data.num_classes, epochs),
        "ddbench_precision": resolve_precision("auto", device),
        "reference_models_per_hour": round(3600 / statistics.fmean(ref_wall), 1),
        "ddbench_models_per_hour": round(3600 / statistics.fmean(dd_wall), 1),
        "reference_acc": round(ra, 2), "reference_acc_std": round(rs, 2),
        "ddbench_acc": round(da, 2), "ddbench_acc_std": round(dsd, 2),
        "reference_wall_s": [round(w, 2) for w in ref_wall], "ddbench_wall_s": [round(w, 2) for w in dd_wall],
    }
    out["speedup"] = round(out["ddbench_models_per_hour"] / out["reference_models_per_hour"], 2)
    out["acc_diff"] = round(da - ra, 2)
    if fp32_acc:
        out["ddbench_fp32_acc"] = round(statistics.fmean(fp32_acc), 2)
        out["ddbench_fp32_models_per_hour"] = round(3600 / statistics.fmean(fp32_wall), 1)
        out["bf16_minus_fp32"] = round(da - statistics.fmean(fp32_acc), 2)
    return out


def levers(data, device, epochs: int, seeds: list[int]) -> list[dict[str, Any]]:
    """ConvNet-3 at IPC 10, the levers added one at a time, each timed with its overheads counted
    (compile time included, paid once per process and shape)."""
    dss = [run_method("random", data, Budget(10), s, device) for s in seeds]
    cfgs = [ddbench_config("convnet3", 100, s, epochs) for s in seeds]
    rows = []
    start = time.perf_counter()
    ref = [reference_evaluate(ds, data, "convnet3", s, epochs)["test_acc"] for ds, s in zip(dss, seeds, strict=True)]
    wall = (time.perf_counter() - start) / len(seeds)
    rows.append({"lever": "reference loop (DataLoader, fp32, one batch of 256)", "models": len(seeds),
                 "models_per_hour": round(3600 / wall, 1), "acc": round(statistics.fmean(ref), 2)})
    for name, change, stacked in [
        ("+ tensor-resident data, cache-sized micro-batches, fast test (fp32, eager)",
         {"precision": "fp32", "compile": False}, False),
        ("+ bf16 autocast (eager)", {"precision": "bf16", "compile": False}, False),
        ("+ torch.compile (bf16): the default", {"precision": "bf16", "compile": True}, False),
        ("stacked seeds via torch.func vmap (bf16, eager) instead of per-model", {"precision": "bf16"}, True),
    ]:
        start = time.perf_counter()
        res = evaluate_seeds(dss, data, [replace(c, **change) for c in cfgs], device, stacked=stacked)
        wall = (time.perf_counter() - start) / len(cfgs)
        acc = statistics.fmean(r["metrics"]["test_acc"] for r in res)
        rows.append({"lever": name, "models": len(cfgs), "models_per_hour": round(3600 / wall, 1),
                     "acc": round(acc, 2)})
        print(f"  lever {name}: {rows[-1]['models_per_hour']} models/h, {acc:.2f}%", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.perf.bench_evaluator", description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["convnet3", "lenet", "test_resnet"])
    p.add_argument("--ipcs", nargs="+", type=int, default=[1, 10, 50])
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--out", default="reports/bench/evaluator_levers.json")
    p.add_argument("--resume", action="store_true", help="keep settings already in --out")
    p.add_argument("--no-levers", action="store_true")
    p.add_argument("--levers-only", action="store_true", help="(re)measure only the lever table")
    p.add_argument("--markdown-only", action="store_true", help="rewrite the .md table from the JSON")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    out = Path(args.out)
    if args.markdown_only:
        out.with_suffix(".md").write_text(markdown(json.loads(out.read_text())))
        return 0
    doc: dict[str, Any] = json.loads(out.read_text()) if args.resume and out.exists() else {}
    doc["metadata"] = machine_info(device)
    command = "python -m benchmarks.perf.bench_evaluator " + " ".join(argv if argv is not None else sys.argv[1:])
    doc["commands"] = sorted(set(doc.get("commands", [])) | {command.strip()})
    doc["protocol"] = (f"MNIST, random real images per class; reference = DataLoader, fp32, SGD 0.01 momentum 0.9 "
                       f"wd 5e-4, {args.epochs} epochs, lr x0.1 at half; ddbench = the same recipe and step count "
                       "through its evaluator (tensor-resident data, its default precision, val subset, "
                       "inference-mode test); models/hour from wall time per model including test")
    doc.setdefault("settings", [])
    data = load_dataset("mnist")
    seeds = list(range(args.seeds))
    done = {(s["model"], s["ipc"]) for s in doc["settings"]}
    if args.levers_only:
        doc.pop("levers", None)
        args.models = []
    for model in args.models:
        for ipc in args.ipcs:
            if (model, ipc) in done:
                continue
            doc["settings"].append(run_setting(model, ipc, seeds, data, device, args.epochs))
            _save(out, doc)
    if not args.no_levers and "levers" not in doc:
        doc["levers"] = levers(data, device, args.epochs, seeds)
        _save(out, doc)
    return 0


def _save(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc["settings"].sort(key=lambda s: (s["model"], s["ipc"]))
    path.write_text(json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n")
    path.with_suffix(".md").write_text(markdown(doc))


def markdown(doc: dict[str, Any]) -> str:
    """A readable table of the benchmark JSON (generated from it, never edited by hand)."""
    from tabulate import tabulate

    m = doc["metadata"]
    rows = [[s["model"], s["ipc"], s["steps"], s["n"], s["reference_models_per_hour"], s["ddbench_models_per_hour"],
             s["speedup"], f"{s['reference_acc']:.2f} ± {s['reference_acc_std']:.2f}",
             f"{s['ddbench_acc']:.2f} ± {s['ddbench_acc_std']:.2f}", s.get("bf16_minus_fp32", "-")]
            for s in doc["settings"]]
    bf16 = m["matmul_peak_gflops_bf16"]
    bf16_text = f"{bf16} GFLOP/s bf16" if bf16 is not None else "no bf16 support (fp32 only)"
    lines = ["# Evaluator benchmark", "", doc.get("protocol", ""), "",
             f"Machine: {m['cpu']}, {m['threads']} threads, torch {m['torch']}; measured matmul peak "
             f"{m['matmul_peak_gflops_fp32']} GFLOP/s fp32, {bf16_text}; {m['date']}, "
             f"commit {m['commit']}.", "",
             tabulate(rows, headers=["model", "ipc", "steps", "n", "reference models/h", "ddbench models/h", "speed-up",
                                     "reference acc", "ddbench acc", "bf16 - fp32 acc"], tablefmt="github")]
    if doc.get("levers"):
        lines += ["", "## Levers (ConvNet-3, IPC 10, added one at a time)", "",
                  tabulate([[r["lever"], r["models"], r["models_per_hour"], r["acc"]] for r in doc["levers"]],
                           headers=["lever", "models", "models/h", "test acc"], tablefmt="github")]
    lines += ["", "Commands: " + "; ".join(f"`{c}`" for c in doc.get("commands", [])), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

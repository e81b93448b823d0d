"""Where an evaluation's time goes: data, forward, backward, optimizer and test, against the machine's peak.

``python -m benchmarks.perf.profile_phases --model convnet3 --ipc 10`` evaluates one MNIST random-real set
with DC's recipe (as ``benchmarks.perf.bench_field``) under torch.profiler, sums the time inside each phase
label the training step sets (``benchmarks.training.PHASES``), and divides each phase's FLOPs by its time:
forward FLOPs are counted on the model, backward = training FLOPs - forward. The matmul peak is measured
here, at the same thread count. With ``--primitives STEPS`` (CPU), it then runs STEPS more training steps of the
same model with oneDNN's verbose mode on and tables the kernels they ran (``benchmarks.perf.onednn_primitives``):
per training step, the milliseconds of each (kind, implementation, direction, shape) and a convolution's GFLOP/s.
Writes ``--out`` (JSON + markdown).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.cost import count_flops, cpu_model, measure_matmul_flops, provenance, resolve_device
from benchmarks.data import load_dataset
from benchmarks.evaluator import evaluate
from benchmarks.methods import Budget, run_method
from benchmarks.metrics import autocast
from benchmarks.models import build_model
from benchmarks.perf.bench_field import recipe
from benchmarks.perf.onednn_primitives import conv_summary, markdown_table, primitive_times, table
from benchmarks.spec import EvalConfig
from benchmarks.training import PHASES, train_group

ROWS = (*PHASES, "test", "other")  # the table's order, whatever order a JSON file keeps the keys in


def phase_seconds(prof: Any) -> dict[str, float]:
    """Seconds inside each phase label (CPU total of the label's events, summed over steps)."""
    totals = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages()}
    return {phase: round(totals.get(label, 0.0), 3) for phase, label in PHASES.items()}


def primitives(ds: Any, data: Any, cfg: EvalConfig, compiled: bool, steps: int, device: torch.device,
               peak: float) -> dict[str, Any]:
    """The oneDNN kernels of ``steps`` training steps under ``cfg`` (compiled as the evaluation was), per step, as a
    run's fields: their table and ``conv_summary`` (the convolutions' ms measured, at the peak and at the ceiling,
    and the reorders')."""
    short = replace(cfg, epochs=None, steps=steps, compile=compiled).for_device(device)
    train_group([ds], data, [short], short.base_lr(), device)  # the same shapes: compiled graphs and caches warm
    times = primitive_times(lambda: train_group([ds], data, [short], short.base_lr(), device))
    rows = table(times, steps, peak)
    return {"primitives": rows, "primitive_steps": steps if rows else 0, "onednn": conv_summary(times, steps, peak)}


def bound(run: dict[str, Any]) -> dict[str, float] | None:
    """The evaluation's time with every training step's convolutions at the ceiling (``conv_summary``) and no layout
    reorders, and the whole test pass's FLOPs at the ceiling, everything else as measured: what faster kernels could
    give at most."""
    k = run.get("onednn")
    if not k:
        return None
    saved_train = run["steps"] * (k["conv_ms"] + k["reorder_ms"] - k["conv_ms_at_ceiling"]) / 1e3
    saved_test = max(0.0, run["seconds"]["test"] - run["gflop"]["test"] / k["ceiling_gflop_per_s"])
    floor = run["wall_s"] - saved_train - saved_test
    # nothing but the convolutions' FLOPs (training) and the test pass's, at the ceiling: no other work at all
    compute = run["steps"] * k["conv_ms_at_ceiling"] / 1e3 + run["gflop"]["test"] / k["ceiling_gflop_per_s"]
    return {"floor_s": round(floor, 2), "at_most": round(run["wall_s"] / floor, 2),
            "compute_s": round(compute, 2), "compute_at_most": round(run["wall_s"] / compute, 2)}


def profile_once(model: str, ipc: int, epochs: int, device: torch.device, primitive_steps: int = 0) -> dict[str, Any]:
    data = load_dataset("mnist")
    ds = run_method("random", data, Budget(ipc), 0, device)
    cfg = EvalConfig(model=model, **recipe(epochs))
    evaluate(ds, data, EvalConfig(model=model, **{**recipe(epochs), "epochs": 2}), device)  # compile, warm caches
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        result = evaluate(ds, data, cfg, device)
    wall = time.perf_counter() - start
    cost, metrics = result["cost"], result["metrics"]
    net, _ = build_model(model, data.num_classes, data.channels, data.size)
    batch = min(cfg.batch_size, len(ds.images))
    with autocast(device, result["execution"]["precision"]):
        fwd_per_image = count_flops(lambda: net(data.normalize(ds.images[:4].to(device)))) / 4
    steps = metrics["steps"]
    flops = {"forward": fwd_per_image * batch * steps, "backward": cost["train_flops"] - fwd_per_image * batch * steps,
             "test": cost["flops"] - cost["train_flops"]}
    seconds = {**phase_seconds(prof), "test": cost["test_s"]}
    seconds["other"] = round(max(0.0, wall - sum(seconds.values())), 3)
    precision = result["execution"]["precision"]
    peak = measure_matmul_flops(device, precision)
    kernels = (primitives(ds, data, cfg, result["execution"]["compiled"], primitive_steps, device, peak)
               if primitive_steps else {"primitives": [], "primitive_steps": 0})
    return {**kernels,
            "model": model, "ipc": ipc, "steps": steps, "batch": batch, "precision": precision,
            "compiled": result["execution"]["compiled"], "wall_s": round(wall, 2), "test_acc": metrics["test_acc"],
            "seconds": seconds, "gflop": {k: round(v / 1e9, 1) for k, v in flops.items()},
            "gflop_per_s": {k: round(flops[k] / seconds[k] / 1e9, 1) for k in flops if seconds[k] > 0},
            "matmul_peak_gflop_per_s": round(peak / 1e9, 1)}


def markdown(doc: dict[str, Any]) -> str:
    from tabulate import tabulate

    m = doc["machine"]
    lines = ["# Where an evaluation's time goes", "", doc["note"], "",
             f"Machine: {m.get('cpu') or m['device']}, {m['threads']} thread(s), torch {m['torch']}; commit {m['commit']}."
             + (f" Conditions: {doc['conditions']}." if doc.get("conditions") else ""), ""]
    for r in doc["runs"]:
        rows = [[k, r["seconds"][k], f"{100 * r['seconds'][k] / r['wall_s']:.0f}%", r["gflop"].get(k, "-"),
                 r["gflop_per_s"].get(k, "-")] for k in sorted(r["seconds"], key=ROWS.index)]
        lines += [f"## {r['model']}, ipc {r['ipc']}: {r['steps']} steps of {r['batch']} images, {r['precision']}, "
                  f"compiled {r['compiled']}; {r['wall_s']} s, test {r['test_acc']:.2f}%; matmul peak "
                  f"{r['matmul_peak_gflop_per_s']} GFLOP/s", "",
                  tabulate(rows, headers=["phase", "s", "share", "GFLOP", "GFLOP/s"], tablefmt="github"), ""]
        if r.get("primitives"):
            lines += [f"oneDNN kernels of {r['primitive_steps']} further training steps (verbose mode), per step, "
                      "largest first; share = of all oneDNN time; peak = the matmul peak above; oneDNN's wall-clock "
                      "timings (under load they include waits for a core):", "",
                      markdown_table(r["primitives"]), ""]
        lines += bound_lines(r)
    return "\n".join(lines + [f"Command: `{doc['command']}`", ""])


def bound_lines(r: dict[str, Any]) -> list[str]:
    """The sentence stating ``bound`` (absent from files measured before it)."""
    b = bound(r)
    if b is None:
        return []
    k = r["onednn"]
    return [f"A training step's convolutions are {k['conv_gflop_per_step']} GFLOP: {k['conv_ms']} ms measured, "
            f"{k['conv_ms_at_ceiling']} ms at the ceiling of {k['ceiling_gflop_per_s']} GFLOP/s (the higher of the matmul "
            "peak and the fastest convolution in the table), plus "
            f"{k['reorder_ms']} ms of layout reorders. With every step's convolutions at the ceiling and no reorders, the "
            "whole test pass's FLOPs at the ceiling, and everything else as measured "
            f"(normalisation, activations, pooling, the loss, autograd, the optimizer), this evaluation would take "
            f"**{b['floor_s']} s** instead of {r['wall_s']}: at most **{b['at_most']}x** faster. With nothing but those "
            f"FLOPs at the ceiling (no other work at all) it would take {b['compute_s']} s: {b['compute_at_most']}x.", ""]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.perf.profile_phases", description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["convnet3"])
    p.add_argument("--ipc", type=int, default=10)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="reports/bench/evaluator_phases.json")
    p.add_argument("--conditions", default=None, help="what else ran on the machine (kept beside the numbers)")
    p.add_argument("--primitives", type=int, default=0, metavar="STEPS",
                   help="CPU: also table the oneDNN kernels of STEPS more training steps")
    p.add_argument("--render", metavar="JSON", help="write the markdown of a stored JSON file beside it, measure nothing")
    args = p.parse_args(argv)
    if args.render:
        src = Path(args.render)
        src.with_suffix(".md").write_text(markdown(json.loads(src.read_text())))
        return 0
    torch.set_num_threads(args.threads)
    device = resolve_device("cpu")
    runs = [profile_once(m, args.ipc, args.epochs, device, args.primitives) for m in args.models]
    doc = {"runs": runs, "machine": {**provenance(device), "cpu": cpu_model(), "threads": args.threads},
           "conditions": args.conditions or "",
           "command": "python -m benchmarks.perf.profile_phases " + " ".join(sys.argv[1:] if argv is None else argv),
           "note": "Seconds inside each phase of ddbench's training step (torch.profiler labels), the test pass, "
                   "and the rest (validation, set-up, FLOP probe); GFLOP/s = the phase's FLOPs / its seconds, "
                   "beside a 2048^3 matmul's rate at the same precision and thread count."}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    out.with_suffix(".md").write_text(markdown(doc))
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

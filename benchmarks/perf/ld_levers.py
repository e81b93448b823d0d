"""What could make ``ld``'s meta-iteration cheaper: its outer forward + backward (LeNet, 1,024 MNIST images) under
each CPU lever, beside the whole meta-iteration it sits in.

``python -m benchmarks.perf.ld_levers`` times, in one process at ``--threads`` threads with ddbench's malloc setting,
``--iterations`` outer steps (zero the gradients, forward, cross-entropy, backward) per lever and round, the levers'
order rotated each round, in CPU seconds; and the meta-iteration ``ld`` runs at N = 100 (``LabelRun.step``, the
same batch size). Each lever's parameter gradient is compared with the fp32 NCHW one on the same weights and images
(cosine and relative error of the flattened gradient), since a lever that changes the gradient changes the labels
``ld`` learns. The report sets the measurements against #21's target, a quarter of the official code's time per
meta-iteration (``reports/bench/ld_meta_step.json``), and breaks ld's own outer step into the oneDNN kernels it
runs (their GFLOP/s against this CPU's fp32 matmul peak), which bounds what faster convolutions alone can give:
the meta-iteration with its outer convolutions at the peak and no layout reorders, everything else as measured.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.max_pool import compiled_pool, torch_max_pool
from benchmarks.perf.bench_files import write_bench
from benchmarks.perf.bench_ld import OUTER, ld_run
from benchmarks.perf.onednn_primitives import markdown_table

META_STEP = Path("reports/bench/ld_meta_step.json")
META = {"meta_iteration": False, "meta_iteration_torch_max_pool": True}  # timed meta-iterations: with torch's pool?


@dataclass(frozen=True)
class Lever:
    """A way to run the outer forward + backward: memory format, autocast dtype and compilation."""

    description: str
    channels_last: bool = False
    bf16: bool = False
    compiled: bool = False
    torch_pool: bool = False  # F.max_pool2d instead of benchmarks.max_pool (what ld ran before it)
    compiled_pool: bool = False  # benchmarks.max_pool's forward compiled alone, the rest eager


LEVERS = {
    "fp32": Lever("what ld runs: fp32, NCHW, eager"),
    "torch_max_pool": Lever("fp32, NCHW, eager, torch's max_pool2d kernel (ld before benchmarks.max_pool)",
                            torch_pool=True),
    "channels_last": Lever("fp32, channels-last weights and images (oneDNN's native layout)", channels_last=True),
    "compiled": Lever("fp32, NCHW, torch.compile (inductor; compile time excluded)", compiled=True),
    "compiled_channels_last": Lever("fp32, channels-last, torch.compile", channels_last=True, compiled=True),
    "compiled_pool": Lever("fp32, NCHW, eager, benchmarks.max_pool's forward compiled alone (inductor)",
                           compiled_pool=True),
    "bf16": Lever("bf16 autocast, NCHW, eager", bf16=True),
    "bf16_channels_last": Lever("bf16 autocast, channels-last, eager", channels_last=True, bf16=True),
}


def outer_step(model: nn.Module, x: Tensor, y: Tensor, lever: Lever) -> Callable[[], None]:
    """One outer forward + backward as the lever runs it (gradients left in ``model``)."""
    def step() -> None:
        model.zero_grad(set_to_none=True)
        with torch_max_pool() if lever.torch_pool else compiled_pool() if lever.compiled_pool else nullcontext():
            with torch.autocast("cpu", torch.bfloat16, enabled=lever.bf16):
                logits = model(x)
            F.cross_entropy(logits.float(), y).backward()
    return step


def prepared(base: nn.Module, x: Tensor, lever: Lever) -> tuple[nn.Module, Tensor]:
    model, xs = copy.deepcopy(base), x
    if lever.channels_last:
        model, xs = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    return (torch.compile(model) if lever.compiled else model), xs


def flat_grad(model: nn.Module) -> Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def cpu_per_call(fn: Callable[[], None], iterations: int) -> float:
    start = time.process_time()
    for _ in range(iterations):
        fn()
    return (time.process_time() - start) / iterations


def meta_iteration(iterations: int, torch_pool: bool = False) -> float:
    """CPU seconds of ``ld``'s meta-iteration at N = 100 (inner batch 50, outer 1,024), after its warm-up steps;
    with ``torch_pool``, as it ran with torch's max_pool2d kernel."""
    with torch_max_pool() if torch_pool else nullcontext():
        return cpu_per_call(ld_run(100, iterations).step, iterations)


def kernels(step: Callable[[], None], iterations: int) -> dict[str, Any]:
    """oneDNN's kernels in ``iterations`` outer steps (per step): their table, the milliseconds of convolutions and
    of layout reorders, and the convolutions' time at the machine's fp32 matmul peak and at the ceiling."""
    from benchmarks.cost import matmul_peak_flops
    from benchmarks.perf.onednn_primitives import conv_summary, primitive_times, table

    peak = matmul_peak_flops("cpu", "fp32")
    times = primitive_times(lambda: [step() for _ in range(iterations)])
    return {"rows": table(times, iterations, peak), **conv_summary(times, iterations, peak)}


def measure(rounds: int, iterations: int) -> dict[str, Any]:
    from benchmarks.data import load_dataset
    from benchmarks.models import build_model
    from benchmarks.seeding import seed_global

    data = load_dataset("mnist").for_distillation()
    seed_global(0)
    base = build_model("lenet", data.num_classes, data.channels, data.size)[0]
    idx = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(0))[:OUTER]
    x, y = data.normalize(data.train_x[idx]), data.train_y[idx]
    runs = {}
    for name, lever in LEVERS.items():
        model, xs = prepared(base, x, lever)
        step = outer_step(model, xs, y, lever)
        for _ in range(3):  # warm-up (and compilation)
            step()
        runs[name] = (model, step)
    reference = runs["fp32"][0]
    outer_step(reference, x, y, LEVERS["fp32"])()
    ref = flat_grad(reference)
    agreement = {}
    for name, (model, step) in runs.items():
        step()
        g = flat_grad(model).float()
        agreement[name] = {"cosine": round(float(F.cosine_similarity(g, ref, 0)), 6),
                           "rel_error": round(float((g - ref).norm() / ref.norm()), 6)}
    times: dict[str, list[float]] = {name: [] for name in [*LEVERS, *META]}
    order = list(times)
    for i in range(rounds):
        for name in order[i % len(order):] + order[:i % len(order)]:
            times[name].append(meta_iteration(iterations, META[name]) if name in META
                               else cpu_per_call(runs[name][1], iterations))
            print(f"round {i + 1}/{rounds} {name}: {times[name][-1] * 1e3:.1f} CPU ms", file=sys.stderr, flush=True)

    def stats(xs: list[float]) -> dict[str, float]:
        return {"mean_ms": round(statistics.fmean(xs) * 1e3, 2),
                "std_ms": round(statistics.stdev(xs) * 1e3, 2) if len(xs) > 1 else 0.0}

    return {"levers": {name: {"description": LEVERS[name].description, **stats(times[name]), **agreement[name]}
                       for name in LEVERS},
            **{name: stats(times[name]) for name in META}, "kernels": kernels(runs["fp32"][1], iterations)}


def markdown(doc: dict[str, Any]) -> str:
    base = doc["levers"]["fp32"]["mean_ms"]
    meta = doc["meta_iteration"]["mean_ms"]
    lines = ["# Label distillation: levers on the meta-iteration's outer forward + backward", "",
             f"Generated by `{doc['command']}`. LeNet, {OUTER} MNIST training images, cross-entropy; "
             f"{doc['threads']} thread(s), one process, ddbench's malloc setting; {doc['rounds']} rounds of "
             f"{doc['iterations']} steps per lever, order rotated, CPU ms per step. Gradient agreement: the lever's "
             "parameter gradient against fp32 NCHW's on the same weights and images.", "",
             f"Machine: {doc['machine']}; torch {doc['torch']}; {doc['date']}, commit {doc['commit']}.", "",
             "| lever | CPU ms / outer step | vs ld's (fp32) | gradient cosine | relative error | meta-iteration with it (projected: measured minus the outer step saved, ms) |",
             "|---|---|---|---|---|---|"]
    for name, r in doc["levers"].items():
        saved = base - r["mean_ms"]
        lines.append(f"| {name}: {r['description']} | {r['mean_ms']:.1f} ± {r['std_ms']:.1f} | "
                     f"{base / r['mean_ms']:.2f}x | {r['cosine']:.6f} | {r['rel_error']:.2e} | {meta - saved:.1f} |")
    lines += ["", f"`ld`'s whole meta-iteration at N = 100 (inner batch 50, outer {OUTER}), measured in the same rounds: "
              f"**{meta:.1f} ± {doc['meta_iteration']['std_ms']:.1f} CPU ms**, of which the outer step (fp32 row) is "
              f"{100 * base / meta:.0f} %."]
    if "meta_iteration_torch_max_pool" in doc:
        old = doc["meta_iteration_torch_max_pool"]
        lines.append(f"The same meta-iteration with torch's max_pool2d kernel (as `ld` ran before `benchmarks.max_pool`, "
                     f"which computes the same values and gradients): {old['mean_ms']:.1f} ± {old['std_ms']:.1f} CPU ms "
                     f"({old['mean_ms'] / meta:.2f}x).")
    if doc.get("target_ms"):
        lines.append(f"#21's target, a quarter of the official code's {doc['official_ms']:.1f} CPU ms per meta-iteration "
                     f"(with its DataLoader, `{META_STEP}`, N = 100): **{doc['target_ms']:.1f} ms** - measured in another "
                     "run, so set it against the levers' ratios here, not against this file's milliseconds.")
    return "\n".join(lines + kernel_lines(doc, meta)) + "\n"


def kernel_lines(doc: dict[str, Any], meta: float) -> list[str]:
    """The fp32 outer step's oneDNN kernels and the floor they set (absent from files measured before)."""
    k = doc.get("kernels")
    if not k:
        return []
    lines = ["", "## The outer step's kernels (fp32, what ld runs)", "",
             "oneDNN's own timings per outer step (its verbose mode, the same process); GFLOP/s of each convolution "
             f"against this CPU's fp32 matmul peak, {k['matmul_peak_gflop_per_s']} GFLOP/s.", "",
             markdown_table(k["rows"])]
    onednn = k["conv_ms"] + k["reorder_ms"]
    at, where = ((k["conv_ms_at_ceiling"], f"at the ceiling of {k['ceiling_gflop_per_s']} GFLOP/s (the higher of the "
                  "matmul peak and the fastest convolution in the table)") if "conv_ms_at_ceiling" in k
                 else (k["conv_ms_at_peak"], "at the matmul peak"))  # files measured before the ceiling
    floor = meta - onednn + at  # convolutions at the ceiling, no reorders, everything else as measured
    lines += ["", f"The outer step's convolutions are {k['conv_gflop_per_step']} GFLOP: {at} ms {where}, against "
              f"{k['conv_ms']} ms measured, plus {k['reorder_ms']} ms of layout reorders around them. "
              f"With the convolutions that fast and no reorders, and everything else as measured ({meta - onednn:.1f} "
              "ms: pooling, activations, the linear layers, autograd, the inner step and the label gradient), the "
              f"meta-iteration would take **{floor:.1f} ms**: at most **{meta / floor:.2f}x** faster than measured here."]
    if doc.get("speedup_cpu"):
        lines.append(f"#21's target is 4x the official code's time; `{META_STEP}` measured ddbench at {doc['speedup_cpu']}x "
                     f"(N = 100), so it needs {4 / doc['speedup_cpu']:.2f}x more.")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.perf.ld_levers", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iterations", type=int, default=30, help="timed steps per lever and round (default 30)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="reports/bench/ld_levers.json")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.iterations < 1:
        p.error("--rounds and --iterations must be at least 1")
    from benchmarks.allocator import keep_freed_memory
    from benchmarks.cost import provenance, resolve_device

    keep_freed_memory()
    torch.set_num_threads(args.threads)
    prov = provenance(resolve_device("cpu"))
    doc: dict[str, Any] = {"command": "python -m benchmarks.perf.ld_levers " + " ".join(argv if argv is not None else sys.argv[1:]),
                           "threads": args.threads, "rounds": args.rounds, "iterations": args.iterations,
                           "machine": prov.get("cpu") or prov.get("device"), "torch": prov.get("torch"),
                           "commit": prov.get("commit"), "date": time.strftime("%Y-%m-%d"),
                           **measure(args.rounds, args.iterations)}
    if META_STEP.is_file():
        official = next(r for r in json.loads(META_STEP.read_text())["results"] if r["n_base"] == 100)
        doc["official_ms"] = official["official"]["cpu_s_per_iteration"]["mean"] * 1e3
        doc["target_ms"] = round(doc["official_ms"] / 4, 2)
        doc["speedup_cpu"] = official["speedup_cpu"]
    print(write_bench(doc, args.out, markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

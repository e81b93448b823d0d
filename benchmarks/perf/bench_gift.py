"""GIFT's cost over KL in the evaluator, measured in one run on the same artifacts (issue #4).

``python -m benchmarks.perf.bench_gift`` takes the ``cross-optimizer`` suite's artifacts (static soft
labels and RDED's online relabelling; cached, distilled on first use), trains the same student with
KL (T = 20) and with GIFT in alternating ABBA order, ``--rounds`` times, and writes the training
loop's wall and CPU seconds per run and the paired overhead to ``reports/bench/gift_overhead.json``
and ``.md``. ABBA pairs cancel slow drift of the machine's load; CPU time is reported because it is
less sensitive than wall time to other processes sharing the cores. A micro-benchmark of the loss
call alone (forward + backward on one batch of logits) shows where any difference comes from.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tabulate import tabulate

from benchmarks.artifact import write_json_atomic
from benchmarks.cost import resolve_device
from benchmarks.data import load_dataset
from benchmarks.losses import Targets, resolve_loss
from benchmarks.paths import reports_dir
from benchmarks.perf.bench_evaluator import machine_info
from benchmarks.runner import get_artifact
from benchmarks.seeding import generator
from benchmarks.spec import EvalConfig
from benchmarks.suite import load_suite
from benchmarks.training import train

KL = {"name": "kl", "T": 20.0}
GIFT = "gift"
ORDER = (KL, GIFT, GIFT, KL)  # one ABBA round


def _cells(suite_name: str, optimizer: str) -> dict[str, Any]:
    """One cell per method of the suite (its KL row at ``optimizer``): the artifact and eval config."""
    out: dict[str, Any] = {}
    for c in load_suite(suite_name).cells():
        if c.eval.optimizer == optimizer and c.eval.loss_spec().name == "kl" and c.method not in out:
            out[c.method] = c
    if not out:
        raise SystemExit(f"suite {suite_name!r} has no KL cell with optimizer {optimizer!r}")
    return out


def time_training(ds, data, cfg: EvalConfig, device: torch.device) -> dict[str, float]:
    """Wall and CPU seconds of one training run; the loop's own seconds as the evaluator records them."""
    wall, cpu = time.perf_counter(), time.process_time()
    r = train(ds, data, cfg, cfg.base_lr(), device)
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu, "loop_s": r.train_s}


def paired_overhead(runs: list[dict[str, Any]], field: str) -> list[float]:
    """Per ABBA round: mean GIFT time over mean KL time, minus one (so 0.01 is 1 % slower)."""
    ratios = []
    for i in range(0, len(runs), len(ORDER)):
        block = runs[i : i + len(ORDER)]
        kl = [r[field] for r in block if r["loss"] == "kl"]
        gift = [r[field] for r in block if r["loss"] == "gift"]
        ratios.append(statistics.fmean(gift) / statistics.fmean(kl) - 1.0)
    return ratios


def loss_call_us(batch: int, classes: int, repeats: int) -> dict[str, float]:
    """Median microseconds of loss forward + backward on one batch of logits, per loss."""
    gen = generator(0)
    z0 = torch.randn(batch, classes, generator=gen)
    teacher = torch.randn(batch, classes, generator=gen)
    t = Targets(torch.softmax(teacher, 1), torch.randint(classes, (batch,), generator=gen), teacher)
    out = {}
    for spec in (KL, GIFT):
        fn = resolve_loss(spec)
        times = []
        for _ in range(repeats):
            z = z0.clone().requires_grad_(True)
            start = time.perf_counter()
            fn(z, t).backward()
            times.append(time.perf_counter() - start)
        out[fn.name] = 1e6 * statistics.median(times)
    return out


def run(suite: str, optimizer: str, steps: int | None, rounds: int, device: torch.device) -> dict[str, Any]:
    rows, runs = [], []
    for method, cell in _cells(suite, optimizer).items():
        data = load_dataset(cell.dataset)
        ds = get_artifact(cell, device, None)
        base = cell.eval if steps is None else replace(cell.eval, steps=steps)
        train(ds, data, replace(base, loss=KL, steps=5), base.base_lr(), device)  # warm-up: first-call costs
        mine = []
        for _ in range(rounds):
            for loss in ORDER:
                r = time_training(ds, data, replace(base, loss=loss), device)
                mine.append({"method": method, "loss": resolve_loss(loss).name, **r})
        runs += mine
        row: dict[str, Any] = {"method": method, "label_kind": ds.label_kind, "steps": base.steps,
                               "batch": min(base.batch_size, len(ds.images)), "runs_per_loss": 2 * rounds}
        for loss in ("kl", "gift"):
            row[f"{loss}_median_s"] = round(statistics.median(r["wall_s"] for r in mine if r["loss"] == loss), 3)
        best = {loss: min(r["wall_s"] for r in mine if r["loss"] == loss) for loss in ("kl", "gift")}
        row["overhead_fastest_%"] = round(100 * (best["gift"] / best["kl"] - 1), 2)  # least-disturbed runs
        for field in ("wall_s", "cpu_s"):
            ratios = paired_overhead(mine, field)
            row[f"overhead_{field[:-2]}_median_%"] = round(100 * statistics.median(ratios), 2)
            row[f"overhead_{field[:-2]}_range_%"] = f"{100 * min(ratios):+.2f} .. {100 * max(ratios):+.2f}"
        rows.append(row)
        print(row, flush=True)
    calls = loss_call_us(50, 10, 2000)
    for row in rows:  # what the loss call itself is of one training step (fastest KL run / steps)
        step_us = 1e6 * min(r["wall_s"] for r in runs if r["method"] == row["method"] and r["loss"] == "kl") / row["steps"]
        row["loss_call_share_kl_%"] = round(100 * calls["kl"] / step_us, 3)
        row["loss_call_share_gift_%"] = round(100 * calls["gift"] / step_us, 3)
    return {"rows": rows, "runs": runs, "loss_call_us": calls}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv  # the report names the command that made it, arguments included
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="cross-optimizer")
    ap.add_argument("--optimizer", default="adamw")
    ap.add_argument("--steps", type=int, default=None, help="default: the suite's")
    ap.add_argument("--rounds", type=int, default=5, help="ABBA rounds per artifact")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    result = run(args.suite, args.optimizer, args.steps, args.rounds, device)
    command = ("python -m benchmarks.perf.bench_gift " + shlex.join(argv)).strip()
    out = reports_dir() / "bench"
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(out / "gift_overhead.json"), {"command": command, **result,
                                                          "machine": machine_info(device)})
    rows = result["rows"]
    table = tabulate([[r[k] for k in rows[0]] for r in rows], headers=list(rows[0]), tablefmt="github")
    calls = result["loss_call_us"]
    (out / "gift_overhead.md").write_text(
        "# GIFT's overhead over KL (T = 20) in the evaluator\n\n"
        f"Command: `{command}`. Generated; do not edit. Same artifact, model, optimizer, seed and batches for "
        f"both losses; runs alternate KL, GIFT, GIFT, KL; overhead = mean GIFT / mean KL - 1 per round, "
        f"median and range over rounds; fastest = fastest GIFT run / fastest KL run - 1 (the runs least disturbed by "
        f"other load); wall = whole `train()` call, cpu = process CPU time of it; loss call share = one loss forward + "
        f"backward as a fraction of one training step. "
        f"Threads: {torch.get_num_threads()}, device: {device}.\n\n{table}\n\n"
        f"Loss call alone (forward + backward, batch 50 x 10 classes, median of 2000): "
        f"KL {calls['kl']:.1f} us, GIFT {calls['gift']:.1f} us.\n")
    print(table)


if __name__ == "__main__":
    main()

"""What each ridge solver of ``ld_rr`` costs: forward + backward time per solve and their agreement.

``python -m benchmarks.perf.bench_ridge`` writes reports/bench/ridge_solvers.json and .md. Problem sizes are
those of the LD paper's RR learner (LeNet features: d = 84 + 1 bias, C = 10 classes, n base
examples per inner minibatch).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
from tabulate import tabulate

from benchmarks.artifact import write_json_atomic
from benchmarks.cost import provenance
from benchmarks.paths import reports_dir
from benchmarks.seeding import generator
from methods.ridge_ld import SOLVERS


def time_solver(name: str, n: int, d: int, k: int, repeats: int, seed: int = 0) -> dict[str, float]:
    """Median seconds of one differentiable solve + backward to the labels, and the solution."""
    gen = generator(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.softmax(torch.randn(n, k, generator=gen, dtype=torch.float64), 1)
    times = []
    for _ in range(repeats + 1):  # the first call builds the cvxpy problem: counted apart
        labels = y.clone().requires_grad_(True)
        t = time.perf_counter()
        w = SOLVERS[name](x, labels, 1.0)
        (g,) = torch.autograd.grad(w.square().sum(), labels)
        times.append(time.perf_counter() - t)
    return {"first_s": times[0], "median_s": statistics.median(times[1:]), "w": w.detach(), "grad": g}


def run(sizes: list[int], repeats: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for n in sizes:
        res = {name: time_solver(name, n, 85, 10, repeats) for name in SOLVERS}
        a, c = res["analytic"], res["cvxpy"]
        rows.append({
            "n": n, "d": 85, "classes": 10, "repeats": repeats,
            "analytic_median_ms": round(1e3 * a["median_s"], 4), "cvxpy_median_ms": round(1e3 * c["median_s"], 3),
            "cvxpy_first_call_ms": round(1e3 * c["first_s"], 1),
            "slowdown": round(c["median_s"] / a["median_s"], 1),
            "max_abs_diff_w": float((a["w"] - c["w"]).abs().max()),
            "max_abs_diff_grad": float((a["grad"] - c["grad"]).abs().max()),
        })
    return rows


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv  # the report names the command that made it, arguments included
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 25, 50])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows = run(args.sizes, args.repeats)
    out = reports_dir() / "bench"
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.perf.bench_ridge " + shlex.join(argv)
    write_json_atomic(Path(out / "ridge_solvers.json"), {"command": command.strip(), "rows": rows,
                                                         "provenance": provenance(torch.device("cpu"))})
    table = tabulate([[r[k] for k in rows[0]] for r in rows], headers=list(rows[0]), tablefmt="github")
    (out / "ridge_solvers.md").write_text(
        "# Ridge solvers of `ld_rr`: cost per differentiable solve (forward + backward to the labels)\n\n"
        f"Command: `{command.strip()}` (1 CPU thread, float64, lambda = 1). Generated; do not edit.\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()

"""`ld` against the official label-distillation script, one distillation at a time, at the paper's budget.

``python -m benchmarks.perf.ld_distillations`` reads the official script's runs that ``ld_official_run`` wrote
(``reports/bench/ld_official*.json``: one distillation each, its 20 models) and ddbench's ``ld`` records at the
same N and budget (the suites ``ld-paper-budget-mnist`` and ``ld-paper-budget-seeds-mnist``: one artifact per
distillation seed, 20 evaluations each). The 20 models of one distillation share its labels, so they measure
the training noise, not the spread between distillations; this compares the distillations' means (n =
distillations per side, Welch's t-test) beside the pooled models. Writes ``--out``.json and .md.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.perf.bench_files import write_bench
from benchmarks.perf.protocol_parity import sample_stats

SUITES = ("ld-paper-budget-mnist", "ld-paper-budget-seeds-mnist")


def official_runs(paths: list[Path], n_base: int, epochs: int) -> list[dict[str, Any]]:
    """One row per official run at N = ``n_base`` and ``epochs``: its seed (from the configuration's name) and accuracies."""
    rows = []
    for p in sorted(paths):
        doc = json.loads(p.read_text())
        r = doc.get("result", {})
        if r.get("n_base") != n_base or r.get("epochs") != epochs:
            continue
        seed = re.search(r"_(\d+)s_v\d+\.json$", doc["config"])
        rows.append({"side": "official", "seed": int(seed.group(1)) if seed else None, "accs": r["accs"],
                     "threads": doc.get("threads"), "source": str(p)})
    return rows


def ld_runs(reports: Path, ipc: int, iterations: int) -> list[dict[str, Any]]:
    """One row per ``ld`` artifact at ``ipc`` and ``iterations`` in the paper-budget suites: its seed and accuracies."""
    from benchmarks.store import Store

    by_artifact: dict[str, dict[str, Any]] = {}
    for suite in SUITES:
        for rec in Store(reports / suite / "records").records():
            c = rec["config"]
            if rec["status"] != "ok" or c["method"] != "ld" or c["ipc"] != ipc or c["iterations"] != iterations:
                continue
            row = by_artifact.setdefault(rec["artifact"]["hash"], {"side": "ld", "seed": c["seed"], "accs": [],
                                                                   "threads": rec["provenance"]["threads"],
                                                                   "source": suite})
            row["accs"].append(rec["metrics"]["test_acc"])
    return sorted(by_artifact.values(), key=lambda r: r["seed"])


def compare(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per side: the distillations' means (mean, sample std, n) and every model pooled; Welch's t-test on the means."""
    from scipy.stats import ttest_ind

    sides: dict[str, dict[str, Any]] = {}
    means: dict[str, list[float]] = {}
    for side in ("ld", "official"):
        mine = [r for r in rows if r["side"] == side]
        means[side] = [statistics.fmean(r["accs"]) for r in mine]
        sides[side] = {"distillations": sample_stats(means[side]) if mine else None,
                       "models": sample_stats([a for r in mine for a in r["accs"]]) if mine else None}
    welch = None
    if all(len(v) > 1 for v in means.values()):
        t = ttest_ind(means["ld"], means["official"], equal_var=False)
        welch = {"t": round(float(t.statistic), 3), "p": round(float(t.pvalue), 4)}
    return {"sides": sides, "welch": welch}


def markdown(doc: dict[str, Any]) -> str:
    lines = ["# `ld` and the official script, distillation by distillation", "",
             f"MNIST, N = {doc['n_base']} base examples, {doc['epochs']} epochs of outer batches of {doc['outer_batch']:,} "
             f"({doc['iterations']:,} meta-iterations); each distillation's labels trained 20 LeNets from scratch, "
             "tested on MNIST's test split. The official script ran unchanged under "
             "`python -m benchmarks.perf.ld_official_run`; `ld` under `ddbench run`.", "",
             f"Machine: {doc['machine']}; generated {doc['generated']}.", "",
             "| side | distillation seed | test acc (20 models) | threads | source |", "|---|---|---|---|---|"]
    for r in doc["rows"]:
        s = sample_stats(r["accs"])
        lines.append(f"| {r['side']} | {r['seed']} | {s['mean']:.2f} ± {s['std']:.2f} (n = {s['n']}) | {r['threads']} | `{r['source']}` |")
    lines += ["", "| side | mean of distillation means ± std (n distillations) | all models pooled |", "|---|---|---|"]
    for side, v in doc["comparison"]["sides"].items():
        if v["distillations"] is None:
            continue
        d, m = v["distillations"], v["models"]
        lines.append(f"| {side} | {d['mean']:.2f} ± {d['std']:.2f} (n = {d['n']}) | {m['mean']:.2f} ± {m['std']:.2f} "
                     f"(n = {m['n']}) |")
    w = doc["comparison"]["welch"]
    pub = doc.get("published")
    lines += ["", f"Published (Bohdal et al. 2020): {pub[0]} ± {pub[1]}." if pub else "",
              f"Welch's t-test on the distillation means: t = {w['t']}, p = {w['p']}." if w else
              "Welch's t-test needs at least two distillations per side.", "",
              f"Command: `{doc['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import sys

    from benchmarks.cost import cpu_model
    from benchmarks.perf.bench_ld import BATCHES_PER_EPOCH, OUTER, PAPER_EPOCHS
    from benchmarks.perf.ld_official_run import published

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--official", nargs="*", default=None,
                   help="the official runs' JSON files (default: reports/bench/ld_official*.json)")
    p.add_argument("--n-base", type=int, default=100)
    p.add_argument("--reports", default="reports")
    p.add_argument("--out", default="reports/bench/ld_distillations.json")
    a = p.parse_args(argv)
    epochs = PAPER_EPOCHS[a.n_base]
    iterations = epochs * BATCHES_PER_EPOCH
    paths = [Path(x) for x in a.official] if a.official is not None else list(Path("reports/bench").glob("ld_official*.json"))
    rows = ld_runs(Path(a.reports), a.n_base // 10, iterations) + official_runs(paths, a.n_base, epochs)
    doc = {"command": " ".join(["python -m benchmarks.perf.ld_distillations", *(argv if argv is not None else sys.argv[1:])]),
           "n_base": a.n_base, "epochs": epochs, "outer_batch": OUTER, "iterations": iterations, "machine": cpu_model(),
           "generated": date.today().isoformat(), "published": published(a.n_base), "rows": rows,
           "comparison": compare(rows)}
    print(write_bench(doc, a.out, markdown))


if __name__ == "__main__":
    main()

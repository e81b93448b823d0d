"""`ld` against the official label-distillation script, one distillation at a time, at the paper's budget.

``python -m benchmarks.perf.ld_distillations`` reads the official script's runs that ``ld_official_run`` wrote
(``reports/bench/ld_official*.json``: one distillation each, its 20 models) and ddbench's ``ld`` records at the
same N and budget (the suites ``ld-paper-budget-mnist`` and ``ld-paper-budget-seeds-mnist``: one artifact per
distillation seed, 20 evaluations each; ``ld-val-ablation-mnist``: the same seeds with a fresh learner judging each
selection point, the side "ld, fresh judges"). The 20 models of one distillation share its labels, so they measure
the training noise, not the spread between distillations; this compares the distillations' means (n =
distillations per side, Welch's t-test against the official script; a paired t-test between the two ld sides,
paired by distillation seed) beside the pooled models, and the training lengths each chose. Writes ``--out``.json
and .md.
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

SUITES = ("ld-paper-budget-mnist", "ld-paper-budget-seeds-mnist", "ld-val-ablation-mnist")
SIDES = {"seeded": "ld", "fresh": "ld, fresh judges"}  # ld's val_init -> the side its distillations are on


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
                     "steps": (r.get("test_steps") or [None])[0], "threads": doc.get("threads"), "source": str(p)})
    return rows


def ld_runs(reports: Path, ipc: int, iterations: int) -> list[dict[str, Any]]:
    """One row per ``ld`` artifact at ``ipc`` and ``iterations`` in ``SUITES``: its side (by its validation), seed,
    accuracies and the training length its validation chose."""
    from benchmarks.store import Store

    by_artifact: dict[str, dict[str, Any]] = {}
    for suite in SUITES:
        folder = reports / suite / "records"
        for rec in Store(folder).records() if folder.is_dir() else []:
            c = rec["config"]
            if rec["status"] != "ok" or c["method"] != "ld" or c["ipc"] != ipc or c["iterations"] != iterations:
                continue
            row = by_artifact.setdefault(rec["artifact"]["hash"], {
                "side": SIDES[c["params"]["val_init"]], "seed": c["seed"], "accs": [], "steps": rec["metrics"]["steps"],
                "threads": rec["provenance"]["threads"], "source": suite})
            row["accs"].append(rec["metrics"]["test_acc"])
    return sorted(by_artifact.values(), key=lambda r: (r["side"], r["seed"]))


def compare(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per side: the distillations' means (mean, sample std, n), every model pooled and the training lengths;
    Welch's t-test of each ld side against the official script; the two ld sides paired by distillation seed."""
    from scipy.stats import ttest_ind, ttest_rel

    sides: dict[str, dict[str, Any]] = {}
    means: dict[str, list[float]] = {}
    for side in (*SIDES.values(), "official"):
        mine = [r for r in rows if r["side"] == side]
        means[side] = [statistics.fmean(r["accs"]) for r in mine]
        sides[side] = {"distillations": sample_stats(means[side]) if mine else None,
                       "models": sample_stats([a for r in mine for a in r["accs"]]) if mine else None,
                       "steps": [r["steps"] for r in mine]}
    welch = {}
    for side in SIDES.values():
        if len(means[side]) > 1 and len(means["official"]) > 1:
            t = ttest_ind(means[side], means["official"], equal_var=False)
            welch[side] = {"t": round(float(t.statistic), 3), "p": round(float(t.pvalue), 4)}
    by_seed = {side: {r["seed"]: statistics.fmean(r["accs"]) for r in rows if r["side"] == side} for side in SIDES.values()}
    a, b = by_seed.values()
    common = sorted(set(a) & set(b))
    paired = None
    if len(common) > 1:
        t = ttest_rel([b[k] for k in common], [a[k] for k in common])
        diffs = [b[k] - a[k] for k in common]
        paired = {"seeds": common, "mean_difference": round(statistics.fmean(diffs), 3),
                  "differences": [round(d, 2) for d in diffs], "t": round(float(t.statistic), 3),
                  "p": round(float(t.pvalue), 4)}
    return {"sides": sides, "welch": welch, "paired": paired}


def markdown(doc: dict[str, Any]) -> str:
    lines = ["# `ld` and the official script, distillation by distillation", "",
             f"MNIST, N = {doc['n_base']} base examples, {doc['epochs']} epochs of outer batches of {doc['outer_batch']:,} "
             f"({doc['iterations']:,} meta-iterations); each distillation's labels trained 20 LeNets from scratch, "
             "tested on MNIST's test split. The official script ran unchanged under "
             "`python -m benchmarks.perf.ld_official_run`; `ld` under `ddbench run`.", "",
             f"Machine: {doc['machine']}; generated {doc['generated']}.", "",
             "\"ld\" judges each selection point with a learner of the distillation's seed (`val_init = \"seeded\"`); "
             "\"ld, fresh judges\" draws a new one per point, as the official validation does (`val_init = \"fresh\"`, "
             "suite `ld-val-ablation-mnist`); nothing else differs between the two.", "",
             "| side | distillation seed | test acc (20 models) | training length | threads | source |",
             "|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        s = sample_stats(r["accs"])
        lines.append(f"| {r['side']} | {r['seed']} | {s['mean']:.2f} ± {s['std']:.2f} (n = {s['n']}) | {r['steps']} | "
                     f"{r['threads']} | `{r['source']}` |")
    lines += ["", "| side | mean of distillation means ± std (n distillations) | all models pooled | training lengths |",
              "|---|---|---|---|"]
    for side, v in doc["comparison"]["sides"].items():
        if v["distillations"] is None:
            continue
        d, m = v["distillations"], v["models"]
        lines.append(f"| {side} | {d['mean']:.2f} ± {d['std']:.2f} (n = {d['n']}) | {m['mean']:.2f} ± {m['std']:.2f} "
                     f"(n = {m['n']}) | {min(v['steps'])}-{max(v['steps'])} |")
    pub = doc.get("published")
    lines += ["", f"Published (Bohdal et al. 2020): {pub[0]} ± {pub[1]}." if pub else ""]
    for side, w in doc["comparison"]["welch"].items():
        lines.append(f"Welch's t-test on the distillation means, {side} against the official script: t = {w['t']}, "
                     f"p = {w['p']}.")
    pr = doc["comparison"]["paired"]
    if pr:
        lines.append(f"Fresh judges minus seeded judges, paired by distillation seed ({', '.join(map(str, pr['seeds']))}): "
                     f"{', '.join(f'{d:+.2f}' for d in pr['differences'])}; mean {pr['mean_difference']:+.2f}, paired "
                     f"t-test t = {pr['t']}, p = {pr['p']}.")
    lines += ["", f"Command: `{doc['command']}`", ""]
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

"""Leaderboard sections computed from the records beyond accuracy: the field's relative scores (HLR, IOR, LRS),
robustness when the suite measured it (corruptions, attacks, worst architecture and optimizer), and cost."""

from __future__ import annotations

from typing import Any

import pandas as pd
from tabulate import tabulate

from reports.cells import cell_frame
from reports.exact import exact_mean
from reports.scores import relative_scores, scores_markdown
from reports.sensitivity import cross_axis


def scores_section(records: list[dict[str, Any]], dataset: str) -> list[str]:
    """DD-Ranking's HLR, IOR and LRS (on fractions) for every scored row of ``dataset``, or nothing when the suite
    has neither a random nor a full reference row (the table says which reference a row lacks)."""
    mine = [r for r in records if r["config"]["dataset"] == dataset]
    if not mine:
        return []
    scores = relative_scores(cell_frame(mine))
    if scores.empty or scores[["hlr", "ior"]].isna().all().all():
        return []
    return ["### Relative scores (DD-Ranking's definitions, on fractions, against this suite's own reference rows)",
            "", "HLR = acc(full data) - acc(set, hard labels); IOR = acc(set) - acc(random real images, same ipc); "
            "LRS = (e^a - e^-1) / (e - e^-1) with a = (IOR - HLR) / 2. A reference row must share the whole "
            "evaluation protocol; a missing one is named, never invented.", "", scores_markdown(scores).rstrip()]


def _robust_rows(records: list[dict[str, Any]], dataset: str) -> pd.DataFrame:
    rows = []
    for r in records:
        panel = (r.get("metrics") or {}).get("robustness")
        if r["status"] != "ok" or not panel or r["config"]["dataset"] != dataset:
            continue
        ipc = r["config"]["ipc"]
        rows.append({"method": r["config"]["method"], "ipc": "all" if ipc is None else ipc, **panel["summary"]})
    return pd.DataFrame(rows)


def robustness_section(records: list[dict[str, Any]], dataset: str) -> list[str]:
    """Per method and ipc: clean, mean corruption and each attack's accuracy (means over runs), and the worst
    architecture and optimizer where the suite varies them; nothing when no record carries a panel."""
    df = _robust_rows(records, dataset)
    if df.empty:
        return []
    metrics = [c for c in df.columns if c not in ("method", "ipc")]
    g = df.groupby(["method", "ipc"], sort=True, dropna=False)
    table = g[metrics].agg(exact_mean).reset_index()
    table["n"] = g.size().values
    worst = _worst(records, dataset)
    rows = [[r["method"], r["ipc"], r["n"], *(("-" if pd.isna(r[m]) else f"{r[m]:.2f}") for m in metrics),
             *worst.get((r["method"], str(r["ipc"])), ["-", "-"])] for _, r in table.iterrows()]
    headers = ["method", "ipc", "n", *metrics, "worst model", "worst optimizer"]
    return ["### Robustness (accuracy %, mean over runs; attacks on a fixed test subset, eps in pixel units)", "",
            tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)]


def _worst(records: list[dict[str, Any]], dataset: str) -> dict[tuple[str, str], list[str]]:
    """(method, ipc) -> [worst architecture, worst optimizer] as 'name acc', from the cross-axis summaries."""
    frame = cell_frame([r for r in records if r["config"]["dataset"] == dataset])
    out: dict[tuple[str, str], list[str]] = {}
    for j, axis in enumerate(("model", "optimizer")):
        summary = cross_axis(frame, axis)
        for _, r in summary.iterrows():
            cell = out.setdefault((r["method"], str(r["ipc"])), ["-", "-"])
            cell[j] = f"{r[f'worst_{axis}']} {r['worst']:.2f}"
    return out


def _hours(cost: dict[str, Any]) -> tuple[float | None, str | None]:
    if "gpu_hours" in cost:
        return cost["gpu_hours"], "GPU"
    return cost.get("cpu_hours"), "CPU" if "cpu_hours" in cost else None


def cost_section(records: list[dict[str, Any]], dataset: str) -> list[str]:
    """What each method cost on the hardware that ran it: distillation wall time (mean over its artifacts),
    evaluation wall time (mean per cell), total evaluation CPU- or GPU-hours and energy (summed over cells; "not
    measured" where the record has none), peak memory and label storage."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        if r["status"] != "ok" or r["config"]["dataset"] != dataset:
            continue
        ipc = r["config"]["ipc"]
        key = (r["config"]["method"], "all" if ipc is None else str(ipc))
        cost = r.get("cost") or {}
        row = rows.setdefault(key, {"n": 0, "distill": {}, "wall": [], "hours": [], "kind": set(), "energy": [],
                                    "unmeasured": 0, "mem": [], "labels": []})
        row["n"] += 1
        artifact = (r.get("artifact") or {}).get("hash")
        if cost.get("distill_wall_s") is not None and artifact:
            row["distill"][artifact] = cost["distill_wall_s"]
        row["wall"].append(cost.get("wall_s"))
        hours, kind = _hours(cost)
        if hours is not None:
            row["hours"].append(hours)
            row["kind"].add(kind)
        if isinstance(cost.get("energy_j"), (int, float)):
            row["energy"].append(cost["energy_j"])
        else:
            row["unmeasured"] += 1
        row["mem"].append(cost.get("peak_mem_bytes"))
        row["labels"].append(cost.get("label_storage_bytes", cost.get("label_bytes")))
    if not rows:
        return []

    def mean(vals: list[Any], digits: int = 1) -> str:
        vals = [v for v in vals if v is not None]
        return "-" if not vals else f"{exact_mean(pd.Series(vals, dtype=float)):.{digits}f}"

    out = []
    for (method, ipc), row in sorted(rows.items(), key=lambda kv: (_ipc_order(kv[0][1]), kv[0][0])):
        hours = (f"{sum(row['hours']):.4f} {'/'.join(sorted(row['kind']))}-h"
                 + (f" ({len(row['hours'])} of {row['n']})" if len(row["hours"]) < row["n"] else "")) \
            if row["hours"] else "not recorded"
        energy = (f"{sum(row['energy']):.0f} J" + (f" ({row['unmeasured']} not measured)" if row["unmeasured"] else "")
                  if row["energy"] else "not measured")
        mem = [m for m in row["mem"] if m is not None]
        out.append([method, ipc, row["n"], mean(list(row["distill"].values())), mean(row["wall"]), hours, energy,
                    f"{max(mem) / 2**30:.2f}" if mem else "-", mean(row["labels"], 0)])
    headers = ["method", "ipc", "n", "distill wall (s)", "eval wall (s)", "eval hours", "eval energy",
               "peak mem (GiB)", "label storage (B)"]
    return ["### Cost on the hardware that ran it (distillation: mean per artifact; evaluation: per cell, hours and "
            "energy summed)", "", tabulate(out, headers=headers, tablefmt="github", disable_numparse=True)]


def _ipc_order(ipc: str) -> int:
    return 10**9 if ipc == "all" else int(ipc)

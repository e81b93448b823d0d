"""Leaderboard sections computed from the records beyond accuracy: the field's relative scores (HLR, IOR, LRS),
the fair protocol's per-architecture choices, the teachers behind soft labels, and cost (robustness has its own module, ``reports.robustness``)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from tabulate import tabulate

from reports.cells import cell_frame
from reports.exact import exact_mean
from reports.scores import relative_scores, scores_markdown


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


def tuning_section(records: list[dict[str, Any]], dataset: str) -> list[str]:
    """The fair protocol's choices, as the records carry them: per architecture, optimizer, ipc and training length,
    every lr its search trained on the reference set with the validation accuracy it reached, and the lr chosen
    (so a column's number can be read with its recipe: a choice on a grid edge, or a search that saw only chance)."""
    rows: dict[str, dict[str, Any]] = {}
    for r in records:
        tuned = (r.get("metrics") or {}).get("lr_tuning")
        if r["status"] != "ok" or r["config"]["dataset"] != dataset or not tuned:
            continue
        ev = r["config"]["eval"]
        length = r["metrics"].get("steps_tuning")
        # one row per search result: records of one key that disagree (tuned on two machines' caches) show apart
        row = rows.setdefault(json.dumps([tuned, length], sort_keys=True),
                              {**tuned, "model": ev["model"], "optimizer": ev["optimizer"], "steps": ev["steps"],
                               "epochs": ev.get("epochs"), "length": length, "n": 0})
        row["n"] += 1
    if not rows:
        return []

    def tried(accs: dict[str, float], chosen: float) -> str:
        pairs = sorted((float(v), acc) for v, acc in accs.items())
        return ", ".join(f"**{v:g}: {acc:.2f}**" if v == chosen else f"{v:g}: {acc:.2f}" for v, acc in pairs)

    lengths = any(t["length"] for t in rows.values())  # a column only where some search chose the training length
    table = [[t["model"], t["optimizer"], "all" if t["ipc"] is None else t["ipc"],
              t["steps"] if t["epochs"] is None else f"{t['epochs']} epochs", f"{t['lr']:g}", tried(t["val_acc"], t["lr"]),
              *([tried(t["length"]["val_acc"], t["length"]["steps"]) + f" (cap {t['length']['max_steps']})"
                 if t["length"] else ""] if lengths else []), t["reference"], t["n"]]
             for t in sorted(rows.values(), key=lambda t: (t["model"], t["optimizer"], t["ipc"] or 0, t["steps"] or 0,
                                                           t["epochs"] or 0))]
    headers = ["model", "optimizer", "ipc", "steps", "lr", "val acc (%) per lr tried (chosen in bold)",
               *(["val acc (%) per training length at that lr (chosen in bold)"] if lengths else []), "reference set",
               "cells"]
    title = "lr and training length" if lengths else "lr"
    out = [f"### The fair protocol's {title} per architecture (chosen on validation, trained on the reference set)", "",
           tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)]
    timed = [r["cost"]["tuning_s"] for r in records if r["status"] == "ok" and r["config"]["dataset"] == dataset
             and (r.get("metrics") or {}).get("lr_tuning") and "tuning_s" in (r.get("cost") or {})]
    if timed:
        untimed = sum(t["n"] for t in rows.values()) - len(timed)
        out += ["", f"Searching took {sum(timed) / 3600:.2f} h of the runs' wall time (running a search, or waiting "
                    f"for another run's; `cost.tuning_s` over {len(timed)} records"
                    + (f", {untimed} made before it was recorded" if untimed else "") + ")."]
    return out


def teachers_section(records: list[dict[str, Any]], dataset: str) -> list[str]:
    """The teachers behind the teacher-labelled sets of ``dataset``, as their records name them (soft-label results
    depend on the teacher): architecture, epochs of the kept weights, how it was trained, validation accuracy,
    and the methods and cells that used it; records made before teachers were recorded are counted apart."""
    rows: dict[str, dict[str, Any]] = {}
    unrecorded: dict[str, int] = {}
    for r in records:
        if r["status"] != "ok" or r["config"]["dataset"] != dataset or "teacher_model" not in r["config"]["params"]:
            continue
        t = (r.get("artifact") or {}).get("teacher")
        if not t:
            unrecorded[r["config"]["method"]] = unrecorded.get(r["config"]["method"], 0) + 1
            continue
        row = rows.setdefault(t["key"], {**t, "methods": set(), "n": 0})
        row["methods"].add(r["config"]["method"])
        row["n"] += 1
    if not rows and not unrecorded:
        return []
    table = [[t["model"], t["key"], t["epochs"], f"to the validation plateau (patience {t['patience']})"
              if t.get("patience") else "fixed epochs, cosine", f"{t['val_acc']:.2f}", ", ".join(sorted(t["methods"])),
              t["n"]] for t in sorted(rows.values(), key=lambda t: (t["model"], t["val_acc"]))]
    out = ["### Teachers (the models whose soft labels the sets carry)"]
    if table:
        out += ["", tabulate(table, headers=["teacher", "key", "epochs kept", "training", "val acc", "methods", "cells"],
                             tablefmt="github", disable_numparse=True)]
    if unrecorded:
        out += ["", "Not recorded (records made before teachers were): " +
                ", ".join(f"{m} ({n} cells)" for m, n in sorted(unrecorded.items())) + "."]
    return out


def _ipc_order(ipc: str) -> int:
    return 10**9 if ipc == "all" else int(ipc)

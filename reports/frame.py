"""Records as a table: one row per record with the results.csv columns (the one flattening every report uses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.store import Store

# results.csv columns: later issues may add columns, never rename these.
CSV_COLUMNS = [
    "suite", "dataset", "method", "ipc", "model", "optimizer", "loss", "augment", "lr", "steps", "precision", "seed",
    "status", "test_acc", "val_acc", "wall_s", "flops", "peak_mem_bytes", "distill_wall_s", "images_per_s",
    "label_kind", "label_bytes", "artifact", "key", "error", "distill_seed", "steps_offset", "order_seed",
    "iterations", "seconds", "lr_policy", "protocol",
]
# Precision is not a grouping key: a suite's "auto" resolves per machine (bf16 or fp32) and records from
# both answer the same cell; the leaderboard lists the precisions each row's runs used.
GROUP = ["dataset", "method", "ipc", "model", "optimizer", "loss", "augment"]


def load_records(records_dir: Path) -> list[dict[str, Any]]:
    """Every valid record of a records folder, sorted by key (invalid files are set aside by the store)."""
    return Store(records_dir).records()


def loss_label(loss: dict[str, Any]) -> str:
    """``kl(T=4)``-style name of a resolved loss; defaults are shown so rows never collide."""
    params = ",".join(f"{k}={v}" for k, v in sorted(loss.get("params", {}).items()))
    return f"{loss['name']}({params})" if params else loss["name"]


def to_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per record, with the CSV columns, sorted deterministically."""
    rows = []
    for r in records:
        c, ev, m, cost = r["config"], r["config"]["eval"], r.get("metrics", {}), r.get("cost", {})
        rows.append({
            "suite": r["suite"], "dataset": c["dataset"], "method": c["method"],
            "ipc": c["ipc"] if c["ipc"] is not None else "all", "model": ev["model"], "optimizer": ev["optimizer"],
            "loss": loss_label(ev["loss"]), "augment": ev["augment"], "lr": m.get("lr", ev["lr"]), "steps": m.get("steps", ev["steps"]),
            "precision": (r.get("execution") or {}).get("precision", ev["precision"]),
            "seed": ev["seed"], "status": r["status"], "test_acc": m.get("test_acc"), "val_acc": m.get("val_acc"),
            "wall_s": cost.get("wall_s"), "flops": cost.get("flops"), "peak_mem_bytes": cost.get("peak_mem_bytes"),
            "distill_wall_s": cost.get("distill_wall_s"), "images_per_s": cost.get("images_per_s"),
            "label_kind": (r.get("artifact") or {}).get("label_kind"), "label_bytes": cost.get("label_bytes"),
            "artifact": (r.get("artifact") or {}).get("hash"), "key": r["key"], "error": r.get("error"),
            "distill_seed": c.get("seed"), "steps_offset": ev.get("steps_offset", 0), "order_seed": ev.get("order_seed"),
            "iterations": c.get("iterations"), "seconds": c.get("seconds"),
            "lr_policy": "per-architecture" if ev.get("lr_per_architecture") else "fixed",
            "protocol": ev.get("protocol") or "-",  # the published preset the cell was evaluated under, if any
        })
    df = pd.DataFrame(rows, columns=CSV_COLUMNS)
    df["ipc_sort"] = df["ipc"].map(lambda v: 10**9 if v == "all" else int(v))
    df = df.sort_values(["dataset", "method", "ipc_sort", "model", "optimizer", "loss", "augment", "seed", "key"])
    return df.drop(columns="ipc_sort").reset_index(drop=True)

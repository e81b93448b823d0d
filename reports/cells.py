"""A suite's records as one frame of evaluation cells with their full protocol, for comparisons and scores.

``reports.generate.to_frame`` keeps what the CSV shows (the chosen lr, the steps actually trained); pairing
cells and matching reference rows also need the declared protocol (base lr, lr grid, batch size, schedule,
...), which this module reads from the records and joins on the record key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.errors import UserError
from benchmarks.paths import reports_dir
from reports.frame import load_records, to_frame

# The evaluation protocol: two rows compare (or one is a reference for the other) only when all of these agree.
PROTOCOL = ["model", "optimizer", "augment", "base_lr", "lr_grid", "weight_decay", "schedule", "steps_cfg",
            "steps_offset", "batch_size", "val_size", "steps_from_artifact", "lr_from_artifact", "lr_policy", "protocol"]
# What else names one evaluation besides the method and its loss: the repeat it belongs to.
REPEAT = ["seed", "distill_seed", "order_seed", "iterations", "seconds"]


def _protocol(record: dict[str, Any]) -> dict[str, Any]:
    ev = record["config"]["eval"]
    return {
        "base_lr": ev.get("lr"), "lr_grid": json.dumps(list(ev.get("lr_grid") or [])),
        "weight_decay": ev.get("weight_decay"), "schedule": ev.get("schedule"), "steps_cfg": ev.get("steps"),
        "batch_size": ev.get("batch_size"), "val_size": ev.get("val_size"),
        "steps_from_artifact": bool(ev.get("steps_from_artifact", False)),
        "lr_from_artifact": bool(ev.get("lr_from_artifact", False)),
        "loss_name": ev["loss"]["name"],
        "lr_val_acc": dict((record.get("metrics") or {}).get("lr_val_acc") or {}),
    }


def cell_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """``to_frame``'s rows and columns plus the declared protocol (``PROTOCOL``), the loss name (the part of
    the loss label before any "(") and ``lr_val_acc`` (validation accuracy per tried lr)."""
    df = to_frame(records)
    extra = pd.DataFrame([{"key": r["key"], **_protocol(r)} for r in records])
    if extra.empty:
        extra = pd.DataFrame(columns=["key", *_protocol_columns()])
    return df.merge(extra, on="key", how="left", validate="one_to_one")


def _protocol_columns() -> list[str]:
    return ["base_lr", "lr_grid", "weight_decay", "schedule", "steps_cfg", "batch_size", "val_size",
            "steps_from_artifact", "lr_from_artifact", "loss_name", "lr_val_acc"]


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows that finished with a test accuracy (error records carry none)."""
    return df[(df["status"] == "ok") & df["test_acc"].notna()]


def suite_records_dir(suite: str, records_dir: str | None = None) -> Path:
    """Where a suite's records are: ``--records-dir`` when given, else ``reports/<suite>/records``."""
    name = Path(suite).stem if suite.endswith(".toml") else suite
    path = Path(records_dir) if records_dir else reports_dir() / name / "records"
    if not path.is_dir():
        raise UserError(f"no records for suite {name!r} at {path}: run `ddbench run {name}` first or pass --records-dir")
    return path


def load_cells(suite: str, records_dir: str | None = None) -> pd.DataFrame:
    """The cell frame of a suite's stored records (a user error when there are none)."""
    path = suite_records_dir(suite, records_dir)
    records = load_records(path)
    if not records:
        raise UserError(f"{path} holds no records")
    return cell_frame(records)


def spell(v: Any) -> str:
    """A cell value as a key part: missing values (None, NaN) as "-", integral floats as integers."""
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def key_strings(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One string key per row over ``columns``, with missing values (None, NaN) spelt the same way."""
    out = pd.Series([""] * len(df), index=df.index, dtype=object)
    for i, c in enumerate(columns):
        out = out + ("\x1f" if i else "") + df[c].map(spell)
    return out

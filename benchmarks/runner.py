"""Run a suite: distil each missing artifact once (cached), evaluate every missing cell, store records.

A failing cell becomes an ``error`` record and the suite goes on; records are written one by one
and atomically, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from collections.abc import Callable
from itertools import groupby
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from benchmarks.artifact import DistilledSet, load_artifact
from benchmarks.cost import provenance
from benchmarks.data import load_dataset
from benchmarks.errors import UserError
from benchmarks.evaluator import evaluate
from benchmarks.methods import Budget, run_method
from benchmarks.paths import cache_dir
from benchmarks.store import RECORD_SCHEMA, Store, cell_key
from benchmarks.suite import Cell, Suite


def distill_key(cfg: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:20]


def get_artifact(cell: Cell, device: torch.device, data_root: str | None, cache: Path | None = None) -> DistilledSet:
    """The cell's artifact from the cache, distilling (and caching) it when it is not there yet."""
    folder = (cache or cache_dir()) / "artifacts" / distill_key(cell.distill_config)
    stored = sorted(folder.glob("*.json")) if folder.exists() else []
    if stored:
        return load_artifact(stored[0])
    data = load_dataset(cell.dataset, data_root)
    ds = run_method(cell.method, data, Budget(cell.ipc, cell.iterations), cell.eval.seed, device, cell.params)
    ds.save(folder)
    return ds


def make_record(cell: Cell, suite: Suite, device: torch.device, ds: DistilledSet | None,
                result: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
    cost = dict(result["cost"]) if result else {}
    if ds is not None:
        cost["distill_wall_s"] = ds.meta.get("cost", {}).get("wall_s")
        cost["label_bytes"] = ds.label_bytes
    return {
        "key": cell_key(cell.config),
        "schema": RECORD_SCHEMA,
        "suite": suite.name,
        "suite_hash": suite.hash,
        "config": cell.config,
        "status": "ok" if error is None else "error",
        "error": error,
        "metrics": result["metrics"] if result else {},
        "cost": cost,
        "artifact": None if ds is None else {
            "hash": ds.content_hash(), "label_kind": ds.label_kind, "n_images": len(ds.images),
        },
        "adaptation": result.get("adaptation") if result else None,
        "provenance": provenance(device),
    }


def _error_text(e: BaseException) -> str:
    where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where and not isinstance(e, UserError) else ""
    return f"{type(e).__name__}: {e}{at}"


def run_suite(suite: Suite, records_dir: Path, device: torch.device, data_root: str | None = None,
              limit: int | None = None, retry_errors: bool = False, progress: bool = True,
              on_record: Callable[[dict[str, Any]], None] | None = None) -> dict[str, int]:
    """Run every cell not yet stored; returns counts of done / skipped / failed cells."""
    store = Store(records_dir)
    stored = store.keys()
    cells = suite.cells()
    todo = []
    for c in cells:
        k = cell_key(c.config)
        if k in stored and not (retry_errors and store.get(k)["status"] == "error"):
            continue
        todo.append(c)
    if limit is not None:
        todo = todo[:limit]
    counts = {"cells": len(cells), "skipped": len(cells) - len(todo), "ok": 0, "error": 0}
    bar = tqdm(total=len(todo), desc=suite.name, unit="cell", disable=not progress or not todo)
    for _, group in groupby(todo, key=lambda c: distill_key(c.distill_config)):
        group = list(group)
        ds, distill_error = None, None
        try:
            ds = get_artifact(group[0], device, data_root)
        except Exception as e:  # a failed distillation fails its cells, not the suite
            distill_error = "distillation failed: " + _error_text(e)
        for cell in group:
            result, error = None, distill_error
            if ds is not None:
                try:
                    result = evaluate(ds, load_dataset(cell.dataset, data_root), cell.eval, device)
                except Exception as e:
                    error = _error_text(e)
            record = make_record(cell, suite, device, ds, result, error)
            store.put(record)
            counts[record["status"]] += 1
            if on_record:
                on_record(record)
            bar.set_postfix_str(f"{cell.method}/{cell.eval.model}/{cell.eval.optimizer}: "
                                + (f"{result['metrics']['test_acc']:.1f}%" if result else "error"))
            bar.update(1)
    bar.close()
    return counts

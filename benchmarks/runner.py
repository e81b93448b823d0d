"""Run a suite: distil each missing artifact once (cached), evaluate every missing cell, store records.

A failing cell becomes an ``error`` record and the suite goes on; records are written one by one
and atomically, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from benchmarks.artifact import DistilledSet, load_artifact
from benchmarks.cost import provenance
from benchmarks.data import load_dataset
from benchmarks.errors import UserError
from benchmarks.evaluator import evaluate_seeds
from benchmarks.methods import Budget, run_method
from benchmarks.paths import cache_dir
from benchmarks.store import RECORD_SCHEMA, Store, cell_key, device_free_key
from benchmarks.suite import Cell, Suite
from benchmarks.teachers import label_cost

ARTIFACTS_IN_MEMORY = 8


def distill_key(cfg: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:20]


def _artifact_dir(cell: Cell, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "artifacts" / distill_key(cell.distill_config)


def is_cached(cell: Cell, cache: Path | None = None) -> bool:
    folder = _artifact_dir(cell, cache)
    return folder.exists() and any(folder.glob("*.json"))


def get_artifact(cell: Cell, device: torch.device, data_root: str | None, cache: Path | None = None) -> DistilledSet:
    """The cell's artifact from the cache, distilling (and caching) it when it is not there yet."""
    folder = _artifact_dir(cell, cache)
    stored = sorted(folder.glob("*.json")) if folder.exists() else []
    if stored:
        return load_artifact(stored[0])
    data = load_dataset(cell.dataset, data_root)
    ds = run_method(cell.method, data, Budget(cell.ipc, cell.iterations, cell.seconds), cell.distill_seed, device, cell.params)
    ds.save(folder)
    return ds


def make_record(cell: Cell, suite: Suite, device: torch.device, ds: DistilledSet | None,
                result: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
    cost = dict(result["cost"]) if result else {}
    if ds is not None:
        cost["distill_wall_s"] = ds.meta.get("cost", {}).get("wall_s")
        cost["label_bytes"] = ds.label_bytes
        cost.update(label_cost(ds.label_kind, ds.label_bytes, ds.teacher, min(cell.eval.batch_size, len(ds.images))))
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


def _seedless(cell: Cell) -> str:
    cfg = cell.config
    cfg = {**cfg, "seed": None, "eval": {**cfg["eval"], "seed": None}}
    return json.dumps(cfg, sort_keys=True)


def _evaluate_group(cells: list[Cell], dss: list[DistilledSet | None], errors: list[str | None],
                    data_root: str | None, device: torch.device) -> list[tuple[dict[str, Any] | None, str | None]]:
    """Evaluate cells that differ only in seed together (stacked where that pays); a failure is
    retried cell by cell so that it is pinned to the cell that caused it."""
    ready = [i for i, ds in enumerate(dss) if ds is not None]
    out: list[tuple[dict[str, Any] | None, str | None]] = [(None, e) for e in errors]
    if not ready:
        return out
    data = load_dataset(cells[0].dataset, data_root)
    try:
        results = evaluate_seeds([dss[i] for i in ready], data, [cells[i].eval for i in ready], device)  # type: ignore[misc]
        for i, r in zip(ready, results, strict=True):
            out[i] = (r, None)
        return out
    except Exception:
        pass  # find out which cell failed, below
    for i in ready:
        try:
            out[i] = (evaluate_seeds([dss[i]], data, [cells[i].eval], device)[0], None)  # type: ignore[list-item]
        except Exception as e:
            out[i] = (None, _error_text(e))
    return out


def run_suite(suite: Suite, records_dir: Path, device: torch.device, data_root: str | None = None,
              limit: int | None = None, retry_errors: bool = False, progress: bool = True,
              on_record: Callable[[dict[str, Any]], None] | None = None,
              shard: tuple[int, int] | None = None, cached_only: bool = False) -> dict[str, int]:
    """Run every cell not yet stored; returns counts of done / skipped / failed cells. ``shard=(k, n)``
    keeps the cells of every n-th artifact starting at the k-th, so n processes split a suite.
    ``cached_only`` evaluates only cells whose artifact is already cached (another suite or process
    is distilling the rest), so no artifact is ever distilled twice at once."""
    store = Store(records_dir)
    stored = store.keys()
    elsewhere = store.device_free_keys()  # cells stored by a machine whose "auto" precision differs
    todo, cells = [], []
    for c0 in suite.cells():
        c = replace(c0, eval=c0.eval.for_device(device))
        cells.append(c)
        k = cell_key(c.config)
        if k in stored and not (retry_errors and store.get(k)["status"] == "error"):
            continue
        if k not in stored and c0.eval.precision == "auto" and device_free_key(c.config) in elsewhere:
            continue
        todo.append(c)
    if shard is not None:
        order = list(dict.fromkeys(distill_key(c.distill_config) for c in cells))
        mine = set(order[shard[0] :: shard[1]])
        todo = [c for c in todo if distill_key(c.distill_config) in mine]
    if cached_only:
        todo = [c for c in todo if is_cached(c)]
    if limit is not None:
        todo = todo[:limit]
    groups: dict[str, list[Cell]] = {}
    for c in todo:  # cells that differ only in seed run together, in first-seen order
        groups.setdefault(_seedless(c), []).append(c)
    counts = {"cells": len(cells), "skipped": len(cells) - len(todo), "ok": 0, "error": 0}
    artifacts: OrderedDict[str, tuple[DistilledSet | None, str | None]] = OrderedDict()
    bar = tqdm(total=len(todo), desc=suite.name, unit="cell", disable=not progress or not todo)
    for group in groups.values():
        dss, errs = [], []
        for cell in group:
            dkey = distill_key(cell.distill_config)
            if dkey not in artifacts:
                try:
                    artifacts[dkey] = (get_artifact(cell, device, data_root), None)
                except Exception as e:  # a failed distillation fails its cells, not the suite
                    artifacts[dkey] = (None, "distillation failed: " + _error_text(e))
                while len(artifacts) > ARTIFACTS_IN_MEMORY:
                    artifacts.popitem(last=False)
            ds, err = artifacts[dkey]
            dss.append(ds)
            errs.append(err)
        for cell, ds, (result, error) in zip(group, dss, _evaluate_group(group, dss, errs, data_root, device),
                                             strict=True):
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

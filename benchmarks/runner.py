"""The work of one cell: its artifact (cached or distilled), its evaluation, its record (``benchmarks.driver`` stores).

A failing cell becomes an ``error`` record and the suite goes on; records are written one by one
and atomically, so an interrupted run resumes where it stopped. An error caused by the environment
(a full disk, memory, a broken cache file) is stored with ``error_kind = "environment"`` and the
next run tries the cell again; an error of the configuration itself is kept (``--retry-errors``
runs those again too).
"""

from __future__ import annotations

import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

import safetensors
import torch

from benchmarks import checkpoint
from benchmarks.artifact import DistilledSet, load_artifact
from benchmarks.cost import provenance
from benchmarks.data import load_dataset
from benchmarks.errors import UserError
from benchmarks.evaluator import evaluate_seeds
from benchmarks.methods import Budget, run_method
from benchmarks.paths import cache_dir
from benchmarks.progress import write
from benchmarks.spec import RECORD_SCHEMA, Cell
from benchmarks.suite import Suite
from benchmarks.teachers import label_cost

ENVIRONMENT_ERRORS = (OSError, MemoryError, safetensors.SafetensorError)


def _artifact_dir(cell: Cell, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "artifacts" / cell.distill_key


def is_cached(cell: Cell, cache: Path | None = None) -> bool:
    folder = _artifact_dir(cell, cache)
    return folder.exists() and any(folder.glob("*.json"))


def get_artifact(cell: Cell, device: torch.device, data_root: str | None, cache: Path | None = None) -> DistilledSet:
    """The cell's artifact from the cache, distilling (and caching) it when it is not there yet or when the
    cached copy fails its hash or cannot be read (it is then rebuilt, never trusted)."""
    folder = _artifact_dir(cell, cache)
    stored = sorted(folder.glob("*.json")) if folder.exists() else []
    if stored:
        try:
            return load_artifact(stored[0])
        except UserError as e:
            write(f"ddbench: warning: cached artifact {stored[0]} is unusable ({e}); distilling it again")
            for p in folder.iterdir():
                p.unlink()
    data = load_dataset(cell.dataset, data_root)
    # a long distillation keeps its loop state here, so a killed run resumes it; the folder goes once it is saved
    with checkpoint.resumable(checkpoint.folder_for(cell.distill_key, cache)):
        ds = run_method(cell.method, data, Budget(cell.ipc, cell.iterations, cell.seconds), cell.distill_seed, device,
                        cell.params)
        ds.save(folder)
    return ds


def make_record(cell: Cell, suite: Suite, device: torch.device, ds: DistilledSet | None,
                result: dict[str, Any] | None, error: BaseException | None) -> dict[str, Any]:
    """The record of one cell (fields documented in ``benchmarks.spec.RECORD_FIELDS``)."""
    cost = dict(result["cost"]) if result else {}
    if ds is not None:
        cost["distill_wall_s"] = ds.meta.get("cost", {}).get("wall_s")  # every process of a resumed distillation
        cost["distill_cpu_s"] = ds.meta.get("cost", {}).get("cpu_s")  # None where a process kept no CPU clock
        cost["label_bytes"] = ds.label_bytes
        cost.update(label_cost(ds.label_kind, ds.label_bytes, ds.teacher, min(cell.eval.batch_size, len(ds.images))))
    record: dict[str, Any] = {
        "key": cell.key,
        "schema": RECORD_SCHEMA,
        "suite": suite.name,
        "suite_hash": suite.hash,
        "config": cell.config,
        "status": "ok" if error is None else "error",
        "error": None if error is None else error_text(error),
        "metrics": result["metrics"] if result else {},
        "cost": cost,
        "execution": result["execution"] if result else {},
        "artifact": None if ds is None else {
            "hash": ds.content_hash(), "label_kind": ds.label_kind, "n_images": len(ds.images),
            **({"teacher": teacher_summary(ds)} if ds.teacher else {}),
        },
        "adaptation": result.get("adaptation") if result else None,
        "provenance": provenance(device),
    }
    if error is not None:
        cause = error.cause if isinstance(error, DistillationFailed) else error
        record["error_kind"] = "environment" if isinstance(cause, ENVIRONMENT_ERRORS) else "cell"
    return record


def lost_record(cell: Cell, suite: Suite, error: BaseException, message: str, device: str) -> dict[str, Any]:
    """An error record for a cell whose worker was lost (killed, out of memory, a node gone): an environment
    error, so the next run retries it. ``device`` says where it ran, as far as the driver knows."""
    record = make_record(cell, suite, torch.device("cpu"), None, None, error)
    record["error"] = message
    record["error_kind"] = "environment"
    record["provenance"]["device"] = device
    return record


def teacher_summary(ds: DistilledSet) -> dict[str, Any]:
    """The teacher behind a soft-label set, as far as its artifact says: key, architecture, epochs and the
    validation accuracy it reached (soft-label results depend on it, so every such record carries it). A
    teacher trained to its validation plateau also names its patience; its epochs are those of the kept weights."""
    plateau = {"patience": ds.meta["teacher_patience"]} if ds.meta.get("teacher_patience") else {}
    return {"key": ds.teacher, "model": ds.meta.get("teacher_model"), "epochs": ds.meta.get("teacher_epochs"),
            **plateau, "val_acc": ds.meta.get("teacher_val_acc")}


def error_text(e: BaseException) -> str:
    """One line: the error and, for an unexpected one, where it was raised."""
    where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
    if isinstance(e, DistillationFailed):
        return str(e)
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where and not isinstance(e, UserError) else ""
    return f"{type(e).__name__}: {e}{at}"


def _seedless(cell: Cell) -> str:
    return replace(cell, eval=replace(cell.eval, seed=0), seed=None).key


class DistillationFailed(Exception):
    """A cell's artifact could not be made; its cause decides whether the cell is retried."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"distillation failed: {error_text(cause)}")
        self.cause = cause

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries (Ray) with its message intact
        return (_restore_failed, (str(self), self.cause))


def _restore_failed(message: str, cause: BaseException) -> DistillationFailed:
    failed = DistillationFailed.__new__(DistillationFailed)
    Exception.__init__(failed, message)
    failed.cause = cause
    return failed


Outcome = tuple[dict[str, Any] | None, BaseException | None]


def evaluate_group(cells: list[Cell], dss: list[DistilledSet | None], errors: list[BaseException | None],
                   data_root: str | None, device: torch.device) -> list[Outcome]:
    """Evaluate cells that differ only in seed together (stacked where that pays); a failure is
    retried cell by cell so that it is pinned to the cell that caused it."""
    ready = [i for i, ds in enumerate(dss) if ds is not None]
    out: list[Outcome] = [(None, e) for e in errors]
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
            out[i] = (None, e)
    return out

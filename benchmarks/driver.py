"""The driver of a run: plan the cells to run, hand the groups to an executor, store each record it yields.

Only this process writes records (atomically, deduplicated by key), whichever executor computed them; an
interrupted run keeps what was stored and the next run resumes (see ``benchmarks.runner`` for the cell work).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from benchmarks.errors import UserError
from benchmarks.executors.base import Executor
from benchmarks.runner import _seedless, is_cached
from benchmarks.spec import Cell
from benchmarks.store import Store
from benchmarks.suite import Suite


@dataclass
class Plan:
    """What a run will do: every cell of the suite, and the ones to run now grouped for evaluation."""

    cells: list[Cell]
    stored: int  # cells already stored
    not_selected: int  # missing cells left out by --shard, --cached-only or --limit
    groups: list[list[Cell]]

    @property
    def todo(self) -> int:
        return sum(len(g) for g in self.groups)


def plan(suite: Suite, store: Store, retry_errors: bool = False, limit: int | None = None,
         shard: tuple[int, int] | None = None, cached_only: bool = False) -> Plan:
    """The cells to run: not stored (or stored as an error to retry), in this shard, cached if asked, at most ``limit``."""
    if limit is not None and limit < 0:
        raise UserError(f"--limit must be 0 or more, got {limit}")
    stored = store.scan()
    cells = suite.cells()

    def done(c: Cell) -> bool:
        r = stored.get(c.key)
        if r is None:
            return False
        return not (r["status"] == "error" and (retry_errors or r.get("error_kind") == "environment"))

    missing = [c for c in cells if not done(c)]
    todo = missing
    if shard is not None:
        order = list(dict.fromkeys(c.distill_key for c in cells))
        mine = set(order[shard[0] :: shard[1]])
        todo = [c for c in todo if c.distill_key in mine]
    if cached_only:
        todo = [c for c in todo if is_cached(c)]
    if limit is not None:
        todo = todo[:limit]
    groups: dict[str, list[Cell]] = {}
    for c in todo:  # cells that differ only in seed run together, in first-seen order
        groups.setdefault(_seedless(c), []).append(c)
    return Plan(cells, len(cells) - len(missing), len(missing) - len(todo), list(groups.values()))


def run_suite(suite: Suite, records_dir: Path, device: torch.device | str, data_root: str | None = None,
              limit: int | None = None, retry_errors: bool = False, progress: bool = True,
              on_record: Callable[[dict[str, Any]], None] | None = None,
              shard: tuple[int, int] | None = None, cached_only: bool = False,
              executor: Executor | None = None) -> dict[str, int]:
    """Run every cell not yet stored; returns counts. ``shard=(k, n)`` keeps the cells of every n-th artifact
    starting at the k-th, so n processes split a suite. ``cached_only`` evaluates only cells whose artifact
    is already cached (another suite or process is distilling the rest). The executor (default: in this
    process) computes the records; only this driver writes them."""
    from benchmarks.executors import make_executor

    store = Store(records_dir)
    p = plan(suite, store, retry_errors, limit, shard, cached_only)
    counts = {"cells": len(p.cells), "stored": p.stored, "not_selected": p.not_selected, "ok": 0, "error": 0}
    runner = executor or make_executor("inprocess")
    bar = tqdm(total=p.todo, desc=suite.name, unit="cell", disable=not progress or not p.todo)
    records = runner.run(suite, p.groups, str(device), data_root)
    try:
        for cell, record in records:
            store.put(record)
            counts[record["status"]] += 1
            if on_record:
                on_record(record)
            acc = record["metrics"].get("test_acc")
            bar.set_postfix_str(f"{cell.method}/{cell.eval.model}/{cell.eval.optimizer}: "
                                + (f"{acc:.1f}%" if record["status"] == "ok" else "error"))
            bar.update(1)
    finally:
        records.close()  # an interrupted run cancels what the executor still has outstanding
        bar.close()
    return counts

"""The driver of a run: plan the cells to run, hand the groups to an executor, store each record it yields.

Only this process writes records (atomically, deduplicated by key), whichever executor computed them; an
interrupted run keeps what was stored and the next run resumes (see ``benchmarks.runner`` for the cell work).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmarks.claims import release, sweep_stale, try_claim
from benchmarks.errors import UserError
from benchmarks.executors.base import Executor
from benchmarks.progress import Tally
from benchmarks.runner import _seedless, is_cached
from benchmarks.spec import Cell, stable_hash
from benchmarks.store import Store
from benchmarks.suite import Suite
from benchmarks.tuning import KEPT, choices_of, keeping, kept_choices, remember, tuning_folder


@dataclass
class Plan:
    """What a run will do: every cell of the suite, and the ones to run now grouped for evaluation."""

    cells: list[Cell]
    stored: int  # cells already stored
    not_selected: int  # missing cells left out by --methods, --models, --shard, --cached-only or --limit
    groups: list[list[Cell]]
    choices: list[dict[str, Any]] = field(default_factory=list)  # the fair protocol's: kept or in records (theirs first)

    @property
    def todo(self) -> int:
        return sum(len(g) for g in self.groups)


def plan(suite: Suite, store: Store, retry_errors: bool = False, limit: int | None = None,
         shard: tuple[int, int] | None = None, cached_only: bool = False,
         methods: Sequence[str] | None = None, models: Sequence[str] | None = None) -> Plan:
    """The cells to run: not stored (or stored as an error to retry), of the named methods and models, in this
    shard, cached if asked, at most ``limit``."""
    if limit is not None and limit < 0:
        raise UserError(f"--limit must be 0 or more, got {limit}")
    stored = store.scan()
    cells = suite.cells()
    by_method = None if methods is None else _known(suite, "methods", methods)
    by_model = None if models is None else _known(suite, "models", models)

    def selected(c: Cell) -> bool:
        return (by_method is None or c.method in by_method) and (by_model is None or c.eval.model in by_model)

    chosen = [c for c in cells if selected(c)]

    def done(c: Cell) -> bool:
        r = stored.get(c.key)
        if r is None:
            return False
        return not (r["status"] == "error" and (retry_errors or r.get("error_kind") == "environment"))

    missing = [c for c in cells if not done(c)]
    todo = [c for c in missing if selected(c)]
    if shard is not None:
        order = list(dict.fromkeys(c.distill_key for c in chosen))
        mine = set(order[shard[0] :: shard[1]])
        todo = [c for c in todo if c.distill_key in mine]
    if cached_only:
        todo = [c for c in todo if is_cached(c)]
    if limit is not None:
        todo = todo[:limit]
    groups: dict[str, list[Cell]] = {}
    for c in todo:  # cells that differ only in seed run together, in first-seen order
        groups.setdefault(_seedless(c), []).append(c)
    known = {c["key"]: c for c in [*kept_choices(store.dir / KEPT), *choices_of(stored.values())]}  # records' win
    return Plan(cells, len(cells) - len(missing), len(missing) - len(todo), list(groups.values()), list(known.values()))


def _known(suite: Suite, axis: str, names: Sequence[str]) -> set[str]:
    """The methods or models ``--methods`` / ``--models`` names, each one of the suite's grid (else a one-line error
    naming the suite's)."""
    own = list(suite.grid[axis])
    unknown = [m for m in names if m not in own]
    if unknown or not names:
        raise UserError(f"--{axis}: suite {suite.name!r} has no {axis[:-1]} "
                        f"{', '.join(map(repr, unknown)) or '(none named)'}; its {axis} are {', '.join(own)}")
    return set(names)


def run_suite(suite: Suite, records_dir: Path, device: torch.device | str, data_root: str | None = None,
              limit: int | None = None, retry_errors: bool = False, progress: bool = True,
              on_record: Callable[[dict[str, Any]], None] | None = None,
              shard: tuple[int, int] | None = None, cached_only: bool = False,
              executor: Executor | None = None, methods: Sequence[str] | None = None,
              models: Sequence[str] | None = None) -> dict[str, int]:
    """Run every cell not yet stored; returns counts. ``shard=(k, n)`` keeps the cells of every n-th artifact
    starting at the k-th, so n processes split a suite; ``methods`` and ``models`` keep only those methods' and
    architectures' cells (a machine for the expensive rows or columns, another for the cheap ones).
    ``cached_only`` evaluates only cells whose artifact is already cached (another suite or process is distilling
    the rest). The executor (default: in this process) computes the records; only this driver writes them. A group
    is claimed (``benchmarks.claims``) just before it is handed over; groups another run holds are left to it and
    come back once its claim is gone ("other" counts the cells it stored meanwhile)."""
    from benchmarks.executors import make_executor

    store = Store(records_dir)
    p = plan(suite, store, retry_errors, limit, shard, cached_only, methods, models)
    if p.todo:
        remember(p.choices)  # this machine's cache trains at the choices the stored records were made with
    counts = {"cells": len(p.cells), "stored": p.stored, "not_selected": p.not_selected, "ok": 0, "error": 0,
              "other": 0}
    runner = executor or make_executor("inprocess")
    tally = Tally(p.todo, suite.name, "cell", show=progress)
    written_before = {c.key: _mtime(store.path(c.key)) for g in p.groups for c in g}
    held: dict[str, list[Any]] = {}  # claim key -> [claim path or None, cells still to come]
    pending = p.groups
    try:
        while pending:
            waiting: list[list[Cell]] = []
            records = runner.run(suite, _claim(pending, store, written_before, counts, tally, held, waiting),
                                 str(device), data_root, p.choices)
            try:
                with keeping(store.dir / KEPT):  # a search ending before its cells are stored outlives the machine
                    for cell, record in records:
                        _store(record, cell, store, counts, tally, held, on_record)
            finally:
                records.close()  # an interrupted run cancels what the executor still has outstanding
            if waiting and len(waiting) == len(pending):
                time.sleep(CLAIM_POLL_S)
            pending = waiting
    finally:
        for claims, _ in held.values():
            _release_all(claims)
        sweep_stale(store.dir)  # claims of killed runs whose cells are stored by now
        sweep_stale(tuning_folder())  # and of killed searches, which only a rerun of that search would take over
        tally.close()
    return counts


CLAIM_POLL_S = 0.5  # how often a run looks again at groups another run has claimed


def _claim_key(cell: Cell) -> str:
    """What one claim covers: a group's cells of one artifact. Per artifact, so that runs holding other artifacts
    of the same group (``--shard`` splits a group's distillation seeds) compute side by side."""
    return stable_hash({"group": _seedless(cell), "artifact": cell.distill_key})


def _distilling_key(cell: Cell) -> str:
    """The claim on distilling a cell's artifact, which every group evaluated on it shares: two runs whose groups
    differ (another architecture, loss or optimizer) but need one uncached artifact distil it once between them."""
    return stable_hash({"distilling": cell.distill_key})


def _claim_part(store: Store, key: str, cells: list[Cell]) -> list[Path] | None:
    """Claim one artifact's cells of a group, and the artifact's distillation where it is not cached yet: the
    claims held (none where the folder takes no claims), or None when another live run holds either."""
    if not _writable(store.dir):
        return []
    claims: list[Path] = []
    for k in (key, *([_distilling_key(cells[0])] if not is_cached(cells[0]) else [])):
        claim = try_claim(store.dir, k)
        if claim is None:
            _release_all(claims)
            return None
        claims.append(claim)
    return claims


def _release_all(claims: list[Path]) -> None:
    for claim in claims:
        release(claim)


def _claim(pending: list[list[Cell]], store: Store, written_before: dict[str, int | None], counts: dict[str, int],
           tally: Tally, held: dict[str, list[Any]], waiting: list[list[Cell]]) -> Iterator[list[Cell]]:
    """The groups this run may compute, each artifact's cells claimed as the executor asks for the group; cells
    another run stored since planning are dropped (counted as "other"), cells of artifacts another run holds (or
    is distilling) go to ``waiting`` (what remains of their group)."""
    for group in pending:
        parts: dict[str, list[Cell]] = {}
        for c in group:
            parts.setdefault(_claim_key(c), []).append(c)
        taken: list[Cell] = []
        left: list[Cell] = []
        for key, cells in parts.items():
            claims = _claim_part(store, key, cells)
            if claims is None:
                left += cells
                continue
            mine = [c for c in cells if _mtime(store.path(c.key)) == written_before[c.key]]
            counts["other"] += len(cells) - len(mine)
            tally.skipped(len(cells) - len(mine))
            if not mine:
                _release_all(claims)
                continue
            held[key] = [claims, len(mine)]
            taken += mine
        if left:
            waiting.append(left)
        if taken:
            yield taken


def _store(record: dict[str, Any], cell: Cell, store: Store, counts: dict[str, int], tally: Tally,
           held: dict[str, list[Any]], on_record: Callable[[dict[str, Any]], None] | None) -> None:
    """Write one record, count it, and release its group's claim once the group's last record is in."""
    store.put(record)
    counts[record["status"]] += 1
    if on_record:
        on_record(record)
    tally.finished(_told(cell, record))
    key = _claim_key(cell)
    entry = held.get(key)
    if entry is not None:
        entry[1] -= 1
        if entry[1] == 0:
            _release_all(entry[0])
            del held[key]


def _told(cell: Cell, record: dict[str, Any]) -> str:
    """A finished cell as its progress line names it: method, model, optimizer, seeds, test accuracy and seconds."""
    seeds = f"seed {cell.distill_seed}" + (f" eval {cell.eval.seed}" if cell.eval.seed != cell.distill_seed else "")
    acc, wall = record["metrics"].get("test_acc"), (record.get("cost") or {}).get("wall_s")
    end = f"{acc:.2f}%" if record["status"] == "ok" and acc is not None else record["status"]
    return f"{cell.method}/{cell.eval.model}/{cell.eval.optimizer} {seeds}: {end}" + (f" in {wall:.0f} s" if wall else "")


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _writable(directory: Path) -> bool:
    """Whether claims can be made in the records folder (creating it if needed); when not, storing the first
    record fails with the store's own one-line error."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK)

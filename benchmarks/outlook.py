"""What a run has left, before it runs: its missing cells by architecture and method, with their time estimated
from what the stored records of the same architecture and method measured (``ddbench run SUITE --dry-run``).

A multi-day suite is split by hand (``--models`` for a GPU's heavy columns, ``--methods`` for the rest); this says
where the hours are. Estimates are medians of stored costs, so they hold for the machines that made those records;
cells with nothing comparable stored are counted, never given a number.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from benchmarks.progress import duration
from benchmarks.spec import Cell, distill_config, stable_hash


@dataclass(frozen=True)
class Row:
    """One architecture's missing cells: how many, of which methods, and the estimated evaluation seconds of those
    it can estimate (``estimated`` of ``cells``)."""

    model: str
    cells: int
    methods: str
    estimated: int
    seconds: float
    basis: str


FULL = "full"  # trains on the whole training split: its cost says nothing of a distilled set's, nor theirs of it


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _costs(stored: Iterable[dict[str, Any]]) -> tuple[dict[tuple[str, str], list[float]], dict[str, list[float]]]:
    """Evaluation seconds of the stored ok records by (model, method), and distillation seconds by artifact
    kind (``_artifact_kind``: its definition, any seed)."""
    evals: dict[tuple[str, str], list[float]] = {}
    distils: dict[str, list[float]] = {}
    for r in stored:
        cost = r.get("cost") or {}
        if r.get("status") != "ok" or not cost.get("wall_s"):
            continue
        c = r["config"]
        evals.setdefault((c["eval"]["model"], c["method"]), []).append(float(cost["wall_s"]))
        if cost.get("distill_wall_s"):
            distils.setdefault(_artifact_kind(c["dataset"], c["method"], c["params"], c["ipc"], c["iterations"],
                                              c.get("seconds")), []).append(float(cost["distill_wall_s"]))
    return evals, distils


def _artifact_kind(dataset: str, method: str, params: dict[str, Any], ipc: int | None, iterations: int | None,
                   seconds: float | None) -> str:
    """An artifact's definition (``spec.distill_config``) with its seed left out: the kind its cost stands for."""
    return stable_hash(distill_config(dataset, method, params, ipc, iterations, seconds, 0))


def _per_cell(model: str, method: str, evals: dict[tuple[str, str], list[float]]) -> tuple[float | None, str]:
    """A cell's estimated seconds and where it comes from: the median of stored cells of the same architecture and
    method, else (not for ``full``) of the architecture's other methods except ``full``."""
    same = evals.get((model, method))
    if same:
        return _median(same), "same method"
    if method == FULL:
        return None, ""
    others = [s for (m, meth), xs in evals.items() if m == model and meth != FULL for s in xs]
    return (_median(others), "other methods") if others else (None, "")


def estimate(todo: list[Cell], stored: Iterable[dict[str, Any]], cached: Callable[[Cell], bool]) -> dict[str, Any]:
    """Rows per architecture (largest estimate first, unestimated last) and the artifacts still to distil."""
    evals, distils = _costs(stored)
    by_model: dict[str, list[Cell]] = {}
    for c in todo:
        by_model.setdefault(c.eval.model, []).append(c)
    rows = []
    for model, cells in by_model.items():
        guesses = [_per_cell(model, c.method, evals) for c in cells]
        known = [g for g in guesses if g[0] is not None]
        bases = sorted({b for _, b in known})
        methods = sorted({c.method for c in cells})
        none = ("no stored cell of these methods" if any(m == model for m, _ in evals)
                else "nothing of this architecture stored")
        seconds = sum(g for g, _ in known if g is not None)
        rows.append(Row(model, len(cells), ", ".join(methods), len(known), seconds, " + ".join(bases) or none))
    rows.sort(key=lambda r: (r.estimated == 0, -r.seconds, r.model))
    artifacts: dict[str, Cell] = {c.distill_key: c for c in todo if not cached(c)}
    known_d = [_median(distils.get(_artifact_kind(c.dataset, c.method, c.params, c.ipc, c.iterations, c.seconds), []))
               for c in artifacts.values()]
    return {"rows": rows, "artifacts": len(artifacts), "artifacts_estimated": sum(k is not None for k in known_d),
            "distill_seconds": sum(k for k in known_d if k is not None)}


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f}"


def render(suite: str, total: int, stored: int, not_selected: int, outlook: dict[str, Any], tunes: bool) -> str:
    """The dry run's report: a table of the missing cells and the totals it can estimate."""
    from tabulate import tabulate

    rows: list[Row] = outlook["rows"]
    todo = sum(r.cells for r in rows)
    known = sum(r.estimated for r in rows)
    lines = [f"{suite}: {total} cells, {stored} stored, {todo} to run"
             + (f" ({not_selected} more left out by --methods / --models / --shard / --cached-only / --limit)"
                if not_selected else "") + "."]
    if rows:
        table = [[r.model, r.cells, r.methods, f"{r.estimated}", hours(r.seconds) if r.estimated else "-", r.basis]
                 for r in rows]
        lines += ["", tabulate(table, headers=["model", "cells", "methods", "estimated", "eval hours", "from stored cells of"],
                               tablefmt="github"), "",
                  f"Evaluation: about {hours(sum(r.seconds for r in rows))} h for the {known} cells estimated, at the "
                  "stored records' median cost per cell (on the machines that made them)"
                  + (f"; {todo - known} cells have nothing comparable stored" if known < todo else "") + "."]
    if outlook["artifacts"]:
        lines.append(f"Distillation: {outlook['artifacts']} artifacts not cached, {outlook['artifacts_estimated']} of "
                     f"them estimated at about {duration(outlook['distill_seconds'])} (their kind's stored median).")
    if tunes:
        lines.append("Not counted: the per-architecture lr and length searches no stored record or kept search answers "
                     "yet (each a few trainings of its architecture).")
    return "\n".join(lines)

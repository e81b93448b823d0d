"""The in-process executor: distil and evaluate group after group in this process (a small artifact LRU)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.artifact import DistilledSet
from benchmarks.cost import resolve_device
from benchmarks.executors.base import EXECUTORS
from benchmarks.progress import stage
from benchmarks.runner import DistillationFailed, evaluate_group, get_artifact, make_record
from benchmarks.spec import Cell
from benchmarks.suite import Suite

ARTIFACTS_IN_MEMORY = 8


@EXECUTORS.decorator("inprocess")
@dataclass
class InProcessExecutor:
    """Runs every group here, in plan order; each artifact is distilled (or read from the cache) once."""

    def run(self, suite: Suite, groups: Iterable[list[Cell]], device: str, data_root: str | None,
            choices: Sequence[dict[str, Any]] = ()) -> Iterator[tuple[Cell, dict[str, Any]]]:
        """Yield each cell's record in plan order."""
        dev = resolve_device(device)
        artifacts: OrderedDict[str, tuple[DistilledSet | None, BaseException | None]] = OrderedDict()
        for group in groups:
            dss, errs = [], []
            for cell in group:
                if cell.distill_key not in artifacts:
                    try:
                        artifacts[cell.distill_key] = (get_artifact(cell, dev, data_root), None)
                    except Exception as e:  # a failed distillation fails its cells, not the suite
                        artifacts[cell.distill_key] = (None, e)
                    while len(artifacts) > ARTIFACTS_IN_MEMORY:
                        artifacts.popitem(last=False)
                ds, err = artifacts[cell.distill_key]
                dss.append(ds)
                errs.append(None if err is None else DistillationFailed(err))
            with stage(f"evaluate {group[0].method} ipc={group[0].ipc}"):
                outcomes = evaluate_group(group, dss, errs, data_root, dev)
            for cell, ds, (result, error) in zip(group, dss, outcomes, strict=True):
                yield cell, make_record(cell, suite, dev, ds, result, error)

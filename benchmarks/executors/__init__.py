"""Executors: where a run's cells are computed. Each takes the plan's groups and yields ``(cell, record)`` pairs;
only the driver (``benchmarks.runner.run_suite``) writes the store. Executors register by name in ``EXECUTORS``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from benchmarks.registry import Registry
from benchmarks.spec import Cell
from benchmarks.suite import Suite


class Executor(Protocol):
    """Computes the records of groups of cells (cells that differ only in seed)."""

    def run(self, suite: Suite, groups: list[list[Cell]], device: str,
            data_root: str | None) -> Iterator[tuple[Cell, dict[str, Any]]]:
        """Yield each cell with its record as it completes (any order); stop early on close()."""
        ...


EXECUTORS: Registry[Any] = Registry("executor")


def make_executor(name: str, **options: Any) -> Executor:
    """The executor registered as ``name``, built from its options (see each executor's dataclass)."""
    from benchmarks.executors import inprocess, ray_executor  # noqa: F401  (they register themselves)

    return EXECUTORS.get(name)(**options)

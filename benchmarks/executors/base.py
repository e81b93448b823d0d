"""The executor interface and registry: an executor takes the plan's groups and yields ``(cell, record)`` pairs;
only the driver (``benchmarks.driver.run_suite``) writes the store."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from benchmarks.registry import Registry
from benchmarks.spec import Cell
from benchmarks.suite import Suite


class Executor(Protocol):
    """Computes the records of groups of cells (cells that differ only in seed)."""

    def run(self, suite: Suite, groups: Iterable[list[Cell]], device: str, data_root: str | None,
            choices: Sequence[dict[str, Any]] = ()) -> Iterator[tuple[Cell, dict[str, Any]]]:
        """Yield each cell with its record as it completes (any order); stop early on close(). ``choices``: the
        fair protocol's choices the stored records carry (the driver has put them in this machine's cache;
        an executor whose workers have other caches gives them to its workers)."""
        ...


EXECUTORS: Registry[Any] = Registry("executor")


def worker_runtime(threads: int) -> None:
    """A worker process's runtime as the ``ddbench`` command sets its own: its share of threads, torch's
    deterministic algorithms, freed memory kept in the process."""
    from benchmarks.allocator import keep_freed_memory
    from benchmarks.seeding import pin_runtime

    keep_freed_memory()
    pin_runtime(threads)

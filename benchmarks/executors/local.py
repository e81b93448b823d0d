"""The local executor: a pool of worker processes on this machine, one task per artifact to distil and one per
evaluation group, each worker with its own share of the CPU threads. Artifacts pass through the cache folder;
records come back to the driver, which alone writes them.

Small models use a second CPU thread poorly (measured on a 2-core CPU: one ConvNet-3 or test_resnet cell on
digits ran 1.49x faster with 2 threads than with 1), so two single-thread workers finish a suite of small
cells sooner than one process with two threads. A busy machine gains nothing: there the in-process default
stays.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.errors import UserError
from benchmarks.executors.base import EXECUTORS, worker_runtime
from benchmarks.spec import Cell
from benchmarks.suite import Suite


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@EXECUTORS.decorator("local")
@dataclass
class LocalExecutor:
    """Options: ``workers`` (0: one per usable core) and ``threads`` per worker (0: the cores divided among them)."""

    workers: int = 0
    threads: int = 0

    def __post_init__(self) -> None:
        if self.workers < 0 or self.threads < 0:
            raise UserError(f"--workers and --threads-per-worker must be 0 (automatic) or more, got {self.workers} "
                            f"and {self.threads}")

    def run(self, suite: Suite, groups: Iterable[list[Cell]], device: str, data_root: str | None,
            choices: Sequence[dict[str, Any]] = ()) -> Iterator[tuple[Cell, dict[str, Any]]]:
        """Distil the missing artifacts one at a time (so work they share - a teacher, an embedder, expert
        trajectories - is done once and then read from the cache), evaluate each group on any free worker once
        its artifacts are cached, and yield the records as groups finish; closing the iterator cancels what
        has not started."""
        from benchmarks.runner import is_cached
        from benchmarks.tuning import kept_folder

        if device.startswith("cuda"):
            raise UserError("--executor local runs CPU workers; on a GPU use the in-process default or Ray")
        workers = self.workers or usable_cores()
        threads = self.threads or max(1, usable_cores() // workers)
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=worker_runtime, initargs=(threads,))
        kept = kept_folder()  # the workers' searches are kept where the driver's would be
        distils: dict[str, Future] = {}
        to_distil: list[Cell] = []
        waiting: list[list[Cell]] = []
        evals: dict[Future, list[Cell]] = {}
        try:
            for group in groups:  # every group is claimed now, as with Ray
                for cell in group:
                    if cell.distill_key not in distils:
                        distils[cell.distill_key] = Future()
                        if is_cached(cell):
                            distils[cell.distill_key].set_result(None)
                        else:
                            to_distil.append(cell)
                waiting.append(group)
            running: Future | None = None
            while waiting or evals:
                if (running is None or running.done()) and to_distil:
                    cell = to_distil.pop(0)
                    running = pool.submit(_distill_task, cell, device, data_root)
                    running.add_done_callback(lambda f, mine=distils[cell.distill_key]: mine.set_result(_failure(f)))
                for group in [g for g in waiting if all(distils[c.distill_key].done() for c in g)]:
                    waiting.remove(group)
                    failures = [distils[c.distill_key].result() for c in group]
                    evals[pool.submit(_evaluate_task, group, suite, device, data_root, failures, kept)] = group
                done, _ = wait([*evals, *([running] if running is not None else [])], return_when=FIRST_COMPLETED)
                for future in done & evals.keys():
                    group = evals.pop(future)
                    try:
                        records = future.result()
                    except BrokenProcessPool as e:  # a worker died (killed, out of memory): retried next run
                        records = [_lost_record(cell, suite, e) for cell in group]
                    yield from zip(group, records, strict=True)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def _failure(future: Future) -> BaseException | None:
    """What a distil task reported: None when the artifact is cached, else the failure."""
    try:
        return future.result()
    except BrokenProcessPool as e:
        from benchmarks.runner import DistillationFailed

        return DistillationFailed(e)


def _distill_task(cell: Cell, device: str, data_root: str | None) -> BaseException | None:
    """Worker: put the cell's artifact in the cache (distilling it if needed); None, or the failure."""
    from benchmarks.cost import resolve_device
    from benchmarks.runner import DistillationFailed, get_artifact

    try:
        get_artifact(cell, resolve_device(device), data_root)
    except Exception as e:  # a failed distillation fails its cells, not the run
        return DistillationFailed(e)
    return None


def _evaluate_task(group: list[Cell], suite: Suite, device: str, data_root: str | None,
                   failures: list[BaseException | None], kept: Path | None = None) -> list[dict[str, Any]]:
    """Worker: the records of one evaluation group, its artifacts read from the cache (the searches it makes kept
    in ``kept``, see ``tuning.keeping``)."""
    from benchmarks.cost import resolve_device
    from benchmarks.runner import DistillationFailed, evaluate_group, get_artifact, make_record
    from benchmarks.tuning import keeping

    dev = resolve_device(device)
    dss: list[Any] = []
    errs: list[BaseException | None] = []
    for cell, failure in zip(group, failures, strict=True):
        try:
            dss.append(None if failure else get_artifact(cell, dev, data_root))
            errs.append(failure)
        except Exception as e:
            dss.append(None)
            errs.append(DistillationFailed(e))
    with keeping(kept):
        outcomes = evaluate_group(group, dss, errs, data_root, dev)
    return [make_record(c, suite, dev, ds, r, e) for c, ds, (r, e) in zip(group, dss, outcomes, strict=True)]


def _lost_record(cell: Cell, suite: Suite, error: BaseException) -> dict[str, Any]:
    """An error record for a cell whose worker died: an environment error, so the next run retries it."""
    from benchmarks.runner import lost_record

    return lost_record(cell, suite, error, f"local worker lost: {type(error).__name__}",
                       "unknown (the local worker was lost)")

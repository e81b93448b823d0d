"""The Ray executor: one Ray task per artifact to distil and one per evaluation group, on a local or existing
Ray cluster. Artifacts travel through the object store (or a shared cache folder); records come back to the
driver, which alone writes them. Ray is optional (``pip install -e '.[ray]'``) and imported only here.

Under the fair per-architecture protocol one more task per search (``tuning.search_identity``) chooses the lr and
length, and every evaluation task of that search waits for it and trains at its choices: nodes with their own
caches would otherwise each search, and perhaps choose differently under other float rounding."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.artifact import DistilledSet, load_artifact
from benchmarks.errors import UserError
from benchmarks.executors.base import EXECUTORS, worker_runtime
from benchmarks.spec import Cell
from benchmarks.suite import Suite

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": a local Ray instance binds to 127.0.0.1 only


def import_ray(local: bool) -> Any:
    """The ray module, or a UserError saying how to install it. A local instance is kept on loopback."""
    if local and "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_ENV, "0")
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install -e '.[ray]' (or pip install 'ray[default]')") from None
    return ray


@EXECUTORS.decorator("ray")
@dataclass
class RayExecutor:
    """Options: ``address`` (None: a local Ray on this machine; "auto" or HOST:PORT: an existing cluster),
    resources per task, retries of tasks whose worker was lost, and an optional shared artifact folder."""

    address: str | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_retries: int = 3
    shared_cache: str | None = None
    _started: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.num_cpus <= 0 or self.num_gpus < 0:
            raise UserError(f"--num-cpus must be > 0 and --num-gpus >= 0, got {self.num_cpus} and {self.num_gpus}")
        if self.max_retries < 0:
            raise UserError(f"--max-retries must be 0 or more, got {self.max_retries}")

    def run(self, suite: Suite, groups: Iterable[list[Cell]], device: str, data_root: str | None,
            choices: Sequence[dict[str, Any]] = ()) -> Iterator[tuple[Cell, dict[str, Any]]]:
        """Submit every task at once (Ray orders them by their dependencies), yield records as groups finish;
        closing the iterator (Ctrl-C, an error in the driver) cancels what is still outstanding."""
        from benchmarks.evaluator import reads_hints
        from benchmarks.tuning import kept_folder, search_identity

        if device.startswith("cuda") and self.num_gpus <= 0:
            raise UserError(f"--device {device} with --executor ray needs --num-gpus 1 (or a fraction)")
        ray = self._connect()
        threads = max(1, int(self.num_cpus))
        opts = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "max_retries": self.max_retries}
        distill = ray.remote(_distill_task).options(name="ddbench-distill", **opts)
        evaluate = ray.remote(_evaluate_task).options(name="ddbench-evaluate", **opts)
        tune = ray.remote(_tune_task).options(name="ddbench-tune", **opts)
        known = ray.put(list(choices))  # once in the object store, not serialised into every task
        searches: dict[str, Any] = {}  # one fair-protocol search task per identity, shared by its groups
        unkept: set[Any] = set()  # search tasks whose choices the driver has still to keep (``tuning.keeping``)
        kept = kept_folder()
        artifacts: dict[str, Any] = {}  # distil task per artifact, kept while an evaluation still needs it
        readers: dict[str, int] = {}
        pending: dict[Any, list[Cell]] = {}
        try:
            for group in groups:
                refs = []
                for cell in group:
                    if cell.distill_key not in artifacts:
                        artifacts[cell.distill_key] = distill.remote(cell, device, data_root, self.shared_cache,
                                                                     threads)
                    refs.append(artifacts[cell.distill_key])
                for key in {c.distill_key for c in group}:
                    readers[key] = readers.get(key, 0) + 1
                search = None
                if group[0].eval.lr_per_architecture:
                    ident = search_identity(group[0].dataset, group[0].ipc, group[0].eval)
                    if ident not in searches:  # at an ipc, hints unread: no wait for the group's first artifact
                        alone = group[0].ipc is not None and not reads_hints(group[0].eval)
                        searches[ident] = tune.remote(group[0], device, data_root, threads, known,
                                                      None if alone else refs[0])
                        if kept:
                            unkept.add(searches[ident])
                    search = searches[ident]
                pending[evaluate.remote(group, suite, device, data_root, threads, known, search, *refs)] = group
            while pending:
                done = _next_done(ray, pending, unkept, kept)
                group = pending.pop(done)
                for key in {c.distill_key for c in group}:  # an artifact no evaluation needs is freed
                    readers[key] -= 1
                    if not readers[key]:
                        del artifacts[key]
                try:
                    records = ray.get(done)
                except ray.exceptions.RayError as e:  # retries exhausted: stored as an environment error
                    records = [_lost_record(cell, suite, e) for cell in group]
                yield from zip(group, records, strict=True)
        finally:
            _cancel(ray, [*pending, *searches.values(), *artifacts.values()])  # what is left when interrupted or closed
            if self._started:
                ray.shutdown()
                self._started = False

    def _connect(self) -> Any:
        ray = import_ray(local=self.address is None)
        if not ray.is_initialized():
            try:
                if self.address is None:
                    ray.init(include_dashboard=False, log_to_driver=False)
                else:
                    ray.init(address=self.address, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as e:
                where = self.address or "a local instance"
                raise UserError(f"cannot start or reach Ray at {where}: {str(e).splitlines()[0]}") from None
            self._started = True
        return ray


def _cancel(ray: Any, refs: list[Any]) -> None:
    for ref in refs:
        try:
            ray.cancel(ref, force=True)
        except Exception:  # noqa: S110 - a finished or already-cancelled task needs nothing
            pass


def _next_done(ray: Any, pending: dict[Any, list[Cell]], unkept: set[Any], kept: Path | None) -> Any:
    """The next evaluation task to finish; search tasks that finish first have their choices kept meanwhile, so a
    search outlives the cluster even before its cells are stored."""
    from benchmarks.tuning import keep

    while True:
        [done], _ = ray.wait([*pending, *unkept], num_returns=1)
        if done not in unkept:
            return done
        unkept.discard(done)
        try:
            keep(ray.get(done), kept)
        except ray.exceptions.RayError:
            pass  # the group's evaluation meets the failure and records it


def _artifact_payload(ds: DistilledSet) -> dict[str, Any]:
    """What crosses the object store: the tensors and the full header (the DistilledSet's own fields)."""
    return {"images": ds.images, "labels": ds.labels, "label_kind": ds.label_kind, "num_classes": ds.num_classes,
            "meta": ds.meta, "teacher": ds.teacher, "extras": ds.extras, "hints": ds.hints}


def _distill_task(cell: Cell, device: str, data_root: str | None, shared_cache: str | None,
                  threads: int) -> Any:
    """Ray task: the cell's artifact (from the worker's or the shared cache, else distilled), or the failure."""
    from benchmarks.cost import resolve_device
    from benchmarks.runner import _artifact_dir, get_artifact

    worker_runtime(threads)
    try:
        ds = get_artifact(cell, resolve_device(device), data_root, Path(shared_cache) if shared_cache else None)
    except Exception as e:  # a failed distillation fails its cells, not the run
        from benchmarks.runner import DistillationFailed

        return DistillationFailed(e)
    if shared_cache:
        return str(sorted(_artifact_dir(cell, Path(shared_cache)).glob("*.json"))[0])
    return _artifact_payload(ds)


def _received(artifact: Any) -> DistilledSet:
    """An artifact as a task receives it: a payload or a path in the shared cache."""
    return load_artifact(artifact) if isinstance(artifact, str) else DistilledSet(**artifact)


def _tune_task(cell: Cell, device: str, data_root: str | None, threads: int, known: list[dict[str, Any]],
               artifact: Any) -> list[dict[str, Any]]:
    """Ray task: the fair protocol's choices for ``cell``'s search (from ``known`` or this worker's cache where
    they are there); none where the artifact or the search failed (the evaluation then searches, and reports).
    ``artifact`` None: the search reads no artifact (``reads_hints``), so the reference set stands in for it."""
    from benchmarks.cost import resolve_device
    from benchmarks.data import load_dataset
    from benchmarks.evaluator import fair_choices
    from benchmarks.tuning import reference_set, remember

    worker_runtime(threads)
    remember(known)
    if isinstance(artifact, BaseException):
        return []
    try:
        dev = resolve_device(device)
        data = load_dataset(cell.dataset, data_root)
        ds = reference_set(data, cell.ipc, dev, None) if artifact is None else _received(artifact)
        return [c for c in fair_choices(cell.eval, ds, data, dev) if c is not None]
    except Exception:  # noqa: BLE001 - the group's own evaluation meets it again and records it
        return []


def _evaluate_task(group: list[Cell], suite: Suite, device: str, data_root: str | None, threads: int,
                   known: list[dict[str, Any]], searched: list[dict[str, Any]] | None,
                   *artifacts: Any) -> list[dict[str, Any]]:
    """Ray task: the records of one evaluation group, given the fair protocol's choices (``known`` from stored
    records, ``searched`` by the group's search task) and its artifacts (payloads, paths or failures)."""
    from benchmarks.cost import resolve_device
    from benchmarks.runner import evaluate_group, make_record
    from benchmarks.tuning import remember

    worker_runtime(threads)
    remember([*known, *(searched or [])])
    dev = resolve_device(device)
    dss: list[DistilledSet | None] = []
    errs: list[BaseException | None] = []
    for a in artifacts:
        if isinstance(a, BaseException):
            dss.append(None)
            errs.append(a)
        else:
            dss.append(_received(a))
            errs.append(None)
    outcomes = evaluate_group(group, dss, errs, data_root, dev)
    return [make_record(c, suite, dev, ds, r, e) for c, ds, (r, e) in zip(group, dss, outcomes, strict=True)]


def _lost_record(cell: Cell, suite: Suite, error: BaseException) -> dict[str, Any]:
    """An error record for a cell whose task failed for good (the worker or node was lost): retried next run."""
    from benchmarks.runner import lost_record

    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return lost_record(cell, suite, error, f"Ray task lost: {text}", "unknown (the Ray worker was lost)")

"""The fair per-architecture protocol: one learning rate per (dataset, architecture, ipc and training recipe),
chosen on validation, cached and shared by every set and loss evaluated under it.

The field's evaluators train every architecture with ConvNet's hyper-parameters, so transfer tables partly
measure the recipe (LeNet and MobileNetV3 train poorly on random real images under it). With
``lr_per_architecture = true`` an EvalConfig's lr is instead chosen once per architecture: a model is trained
on ``REFERENCE_METHOD``'s set at the cell's ipc (random real images, seed ``REFERENCE_SEED``; the full
training split for ipc-free cells) with each lr in the grid (the config's ``lr_grid`` multipliers of its base
lr, or ``DEFAULT_GRID``; while the best lies on the grid's edge, up to ``EXTEND`` more lrs beyond it at the
grid's own ratio) under ``REFERENCE_LOSS`` (the reference set's true labels), and the lr with the best
validation accuracy is used for every method's set and every loss. The test split is never read here. The choice is
cached in ``<cache>/tuning/<key>.json`` and each record carries it. A cached choice is a memo of validation scores:
one whose best still lies on an edge after fewer extensions than ``EXTEND`` allows continues its search (the same
lrs, in the same order, as a search from scratch) and is written again. Each lr trained is written at once as a
``partial`` memo (no choice yet), so an interrupted search resumes where it stopped.

Where the config sets ``max_steps``, the training length is chosen after the lr (``choose_steps``): at the chosen lr,
on the same reference set, ``STEPS_FACTOR`` times the steps is trained while validation gains more than
``STEPS_GAIN`` points, up to ``max_steps``; the lr is not searched again at the longer length. Cached beside the lr.

Records carry both choices, and a run seeds its cache with its stored records' choices (``remember``): a suite
continued on another machine (a GPU, a fresh clone) trains at the choices its records were made with instead of
searching again, perhaps to another choice under other float rounding. A run also keeps every choice it searches in
its records folder (``KEPT``, written as the search ends, see ``keeping``), so a search whose cells were not stored
yet (an hour of a slow architecture's lr grid, then the machine is gone) is carried by the committed folder too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from benchmarks.artifact import DistilledSet, write_json_atomic
from benchmarks.claims import release, try_claim
from benchmarks.data import RealData
from benchmarks.metrics import accuracy, val_subset
from benchmarks.paths import cache_dir
from benchmarks.spec import EvalConfig, stable_hash

REFERENCE_METHOD = "random"
REFERENCE_SEED = 0
REFERENCE_LOSS = "ce"  # the reference set has true labels: the choice is the architecture's, not a loss's
DEFAULT_GRID = (0.3, 1.0, 3.0)  # multipliers of the optimizer's base lr
# More lrs tried past the grid's edge while the best lies on it. LeNet wants ~10x ConvNet's lr; on MNIST at ipc 10
# (cross-arch-fair) ResNet-18 still rose from 41 to 88 % validation between the 2nd and 3rd lr past SGD's x3, so 4.
EXTEND = 4
KEYED_EXTEND = 2  # what every tuning key has hashed since the rule began (EXTEND was 2): a cached choice continues
# its search under a larger EXTEND, so raising it keeps the keys and the choices found within two extensions
# What the choice may depend on: the recipe, not the evaluation's own seed, loss, grid or panel.
IGNORED = ("seed", "order_seed", "loss", "lr_grid", "robustness", "lr_per_architecture", "lr_from_artifact",
           "max_steps")  # the lr is chosen at the config's steps whatever the cap on the length chosen after it
STEPS_FACTOR = 3  # each longer training tried is this many times the last kept one (capped at max_steps)
STEPS_GAIN = 1.0  # validation points a longer training must gain over the last kept one to be kept
WAIT_S = 5.0  # how often a run waiting for another's search looks again
KEPT = "tuning"  # the folder inside a suite's records folder where its runs keep the choices they searched
_keep_in: ContextVar[Path | None] = ContextVar("ddbench_tuning_keep_in", default=None)


def tuning_key(cfg: EvalConfig, dataset: str, ipc: int | None, grid: list[float]) -> str:
    recipe = {k: v for k, v in cfg.resolved().items() if k not in IGNORED}
    return stable_hash({"dataset": dataset, "ipc": ipc, "recipe": recipe, "grid": grid,
                        "reference": [REFERENCE_METHOD, REFERENCE_SEED, REFERENCE_LOSS], "extend": KEYED_EXTEND})


def search_identity(dataset: str, ipc: int | None, cfg: EvalConfig) -> str:
    """What makes two cells share one search, known before their artifacts exist (``tuning_key`` also needs the
    executing device's precision): executors that spread cells over machines search once per identity."""
    return stable_hash({"dataset": dataset, "ipc": ipc,
                        "recipe": {k: v for k, v in cfg.resolved().items() if k not in IGNORED}})


def tuning_folder() -> Path:
    """The cache's folder of searches: each choice as ``<key>.json`` and the claim of a search under way."""
    return cache_dir() / "tuning"


def tuning_path(key: str) -> Path:
    return tuning_folder() / f"{key}.json"


def reference_set(data: RealData, ipc: int | None, device: torch.device, own: DistilledSet | None) -> DistilledSet:
    """The set the lr is chosen on: random real images at ``ipc``, or the cell's own (full-data) set."""
    if ipc is None:
        assert own is not None, "a full-data cell's search runs on its own set"
        return own
    from benchmarks.methods import Budget, run_method

    return run_method(REFERENCE_METHOD, data, Budget(ipc), REFERENCE_SEED, device)


def search(grid: list[float], score: Callable[[float], float]) -> float:
    """The rule: every lr of ``grid``, then, while the best lies on an edge, up to ``EXTEND`` more past it at the
    grid's own ratio; the best validation score wins (ties: the smaller lr). ``score`` trains or remembers."""
    for lr in grid:  # in the grid's own order, as the rule always trained them
        score(lr)
    lrs = sorted(grid)

    def best() -> float:
        return max(lrs, key=lambda lr: (score(lr), -lr))

    for _ in range(EXTEND if len(lrs) > 1 else 0):
        top = best()
        if top == lrs[-1]:
            lrs.append(lrs[-1] * lrs[-1] / lrs[-2])
        elif top == lrs[0]:
            lrs.insert(0, lrs[0] * lrs[0] / lrs[1])
        else:
            break
    return best()


@contextmanager
def _alone(key: str) -> Iterator[None]:
    """Hold ``key``'s claim in the tuning cache while searching, so that runs sharing a cache search once: another
    run waits for the claim to go and then reads the choice it left (a dead claimant's claim is taken over, and a
    run's end removes those it finds: ``benchmarks.driver``)."""
    while (claim := try_claim(tuning_folder(), key)) is None:
        time.sleep(WAIT_S)
    try:
        yield
    finally:
        release(claim)


def _cached(path: Path) -> dict[str, Any] | None:
    try:
        choice = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # absent or unreadable: choose again and overwrite
    if not isinstance(choice, dict) or not isinstance(choice.get("val_acc"), dict):
        return None
    scores = choice["val_acc"].values()
    return choice if all(isinstance(v, int | float) and not isinstance(v, bool) for v in scores) else None


def choose_lr(cfg: EvalConfig, ds: DistilledSet, data: RealData, device: torch.device) -> dict[str, Any]:
    """The per-architecture lr for ``cfg`` at ``ds``'s ipc: from the cache, or chosen now on validation (a cached
    search the current ``EXTEND`` would carry further is continued). Returns {"key", "lr", "val_acc": {lr:
    validation accuracy}, "reference", "grid", "ipc"}."""
    ipc = ds.meta.get("ipc")
    base = cfg.base_lr()
    grid = [base * m for m in (cfg.lr_grid or DEFAULT_GRID)]
    key = tuning_key(cfg, data.name, ipc, grid)
    with _alone(key):
        return _choose_lr(cfg, ds, data, device, key, grid)


def _choose_lr(cfg: EvalConfig, ds: DistilledSet, data: RealData, device: torch.device, key: str,
               grid: list[float]) -> dict[str, Any]:
    ipc = ds.meta.get("ipc")
    path = tuning_path(key)
    cached = _cached(path)
    tried: dict[str, float] = dict(cached["val_acc"]) if cached else {}
    known = len(tried)

    trainer = _ReferenceTrainer(cfg, ds, data, device)

    def score(lr: float) -> float:
        name = f"{lr:.6g}"
        if name not in tried:
            tried[name] = trainer.val_acc(lr, cfg.steps)
            _write({"key": key, "partial": True, "val_acc": tried})  # a search cut short resumes from this memo
        return tried[name]

    best = search(grid, score)
    if cached is not None and len(tried) == known and not cached.get("partial"):
        return cached
    choice = {"key": key, "lr": best, "val_acc": tried, "grid": grid, "ipc": ipc,
              "reference": f"{REFERENCE_METHOD} seed {REFERENCE_SEED}" if ipc is not None else "the cell's own set"}
    _write(choice)
    return choice


class _ReferenceTrainer:
    """Trains ``cfg``'s architecture on the reference set under the plain recipe (true labels, the reference seed)
    and scores it on validation; the set and split are built only if something trains."""

    def __init__(self, cfg: EvalConfig, ds: DistilledSet, data: RealData, device: torch.device) -> None:
        self.cfg, self.ds, self.data, self.device = cfg, ds, data, device

    @cached_property
    def _setup(self) -> tuple[DistilledSet, Any, Any, EvalConfig]:
        plain = replace(self.cfg, seed=REFERENCE_SEED, order_seed=None, loss=REFERENCE_LOSS, lr_grid=(),
                        robustness=None, lr_from_artifact=False, max_steps=None).for_device(self.device)
        ref = reference_set(self.data, self.ds.meta.get("ipc"), self.device, self.ds)
        return (ref, *val_subset(self.data, self.cfg.val_size), plain)

    def val_acc(self, lr: float, steps: int) -> float:
        from benchmarks.training import train_group

        ref, vx, vy, plain = self._setup
        run = replace(plain, steps=steps)
        (res,) = train_group([ref], self.data, [run], lr, self.device)
        return round(accuracy(res.model, self.data, vx, vy, self.device, run.precision, res.eval_batch,
                              res.predict), 4)


def lengthen(start: int, cap: int, score: Callable[[int], float]) -> int:
    """The length rule: from ``start`` steps, try ``STEPS_FACTOR`` times the last kept length (at most ``cap``) and
    keep it while it gains more than ``STEPS_GAIN`` validation points; the last kept length wins."""
    kept = start
    while kept < cap:
        longer = min(cap, kept * STEPS_FACTOR)
        if score(longer) - score(kept) <= STEPS_GAIN:
            break
        kept = longer
    return kept


def choose_steps(cfg: EvalConfig, lr_choice: dict[str, Any], ds: DistilledSet, data: RealData,
                 device: torch.device) -> dict[str, Any]:
    """The training length for ``cfg`` at the fair protocol's chosen lr (``lr_choice``): from the cache, or chosen
    now on validation by ``lengthen``. Returns {"key", "lr_key", "lr", "steps", "val_acc": {steps: validation
    accuracy}, "max_steps", "factor", "gain"}."""
    lr = lr_choice["lr"]
    key = stable_hash({"lr_key": lr_choice["key"], "lr": f"{lr:.6g}", "max_steps": cfg.max_steps,
                       "factor": STEPS_FACTOR, "gain": STEPS_GAIN})
    with _alone(key):
        return _cached(tuning_path(key)) or _choose_steps(cfg, lr_choice, ds, data, device, key)


def _choose_steps(cfg: EvalConfig, lr_choice: dict[str, Any], ds: DistilledSet, data: RealData, device: torch.device,
                  key: str) -> dict[str, Any]:
    assert cfg.max_steps is not None
    lr = lr_choice["lr"]
    tried: dict[str, float] = {str(cfg.steps): lr_choice["val_acc"][f"{lr:.6g}"]}
    trainer = _ReferenceTrainer(cfg, ds, data, device)

    def score(steps: int) -> float:
        if str(steps) not in tried:
            tried[str(steps)] = trainer.val_acc(lr, steps)
        return tried[str(steps)]

    steps = lengthen(cfg.steps, cfg.max_steps, score)
    choice = {"key": key, "lr_key": lr_choice["key"], "lr": lr, "steps": steps, "val_acc": tried,
              "max_steps": cfg.max_steps, "factor": STEPS_FACTOR, "gain": STEPS_GAIN}
    _write(choice)
    return choice


def choices_of(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The distinct lr and length choices ``records`` carry."""
    found: dict[str, dict[str, Any]] = {}
    for r in records:
        metrics = r.get("metrics") or {}
        for choice in (metrics.get("lr_tuning"), metrics.get("steps_tuning")):
            if isinstance(choice, dict) and isinstance(choice.get("key"), str):
                found.setdefault(choice["key"], choice)
    return list(found.values())


def remember(choices: Iterable[dict[str, Any]]) -> int:
    """Write ``choices`` (``choices_of`` records, or what ``choose_lr`` / ``choose_steps`` returned elsewhere) into
    this machine's tuning cache where it has none under their keys (a cached search is never replaced); returns
    how many were written."""
    written = 0
    for choice in choices:
        if _cached(tuning_path(choice["key"])) is None:
            _to_cache(choice)
            written += 1
    return written


def _to_cache(choice: dict[str, Any]) -> None:
    path = tuning_path(choice["key"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, choice)


def _write(choice: dict[str, Any]) -> None:
    """A search's choice into this machine's cache and, inside ``keeping``, into the run's records folder."""
    _to_cache(choice)
    keep([choice], _keep_in.get())


@contextmanager
def keeping(folder: Path | None) -> Iterator[None]:
    """Inside, every search this process makes also writes to ``folder`` (a run's records folder's ``KEPT``; None keeps
    nothing): its memo as each lr is trained, then its choice. Executors searching in other processes pass
    ``kept_folder()`` on (Ray's driver keeps what its search tasks return, their memos staying on the workers)."""
    token = _keep_in.set(folder)
    try:
        yield
    finally:
        _keep_in.reset(token)


def kept_folder() -> Path | None:
    """The folder the enclosing ``keeping`` keeps choices in, or None."""
    return _keep_in.get()


def keep(choices: Iterable[dict[str, Any]], folder: Path | None) -> None:
    """Write ``choices`` into ``folder`` (replacing a kept one under the same key: a continued search supersedes it)."""
    if folder is None:
        return
    for choice in choices:
        folder.mkdir(parents=True, exist_ok=True)  # only once something is kept
        write_json_atomic(folder / f"{choice['key']}.json", choice)


def kept_choices(folder: Path) -> list[dict[str, Any]]:
    """The choices ``folder`` keeps; a file that is not a choice named after its key is skipped (and searched again)."""
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        choice = _cached(path)
        if choice is not None and choice.get("key") == path.stem:
            found.append(choice)
    return found

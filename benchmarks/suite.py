"""Suites: plain-data TOML files listing datasets x methods x budgets x models x optimizers x ...

``expand`` turns a suite into evaluation cells, grouped so that each distilled artifact is made
once and evaluated on every model, optimizer, loss and seed of the grid.
"""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

from benchmarks.augment import AUGMENTATIONS
from benchmarks.data import DATASETS
from benchmarks.errors import UserError, suggest
from benchmarks.losses import resolve_loss
from benchmarks.methods import METHODS, resolve_params
from benchmarks.models import ZOO
from benchmarks.optim import OPTIMIZERS, SCHEDULES
from benchmarks.protocols import eval_fields
from benchmarks.spec import EVAL_FIELDS, Cell, EvalConfig, stable_hash
from benchmarks.validate import safe_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GRID_KEYS = ("datasets", "methods", "ipc", "models", "optimizers", "losses", "augment", "seeds", "eval_seeds",
             "iterations", "seconds")
GRID_EVAL_AXES = ("model", "optimizer", "loss", "augment", "seed")  # EvalConfig fields the [grid] varies
EVAL_KEYS = tuple(f for f in EVAL_FIELDS if f not in GRID_EVAL_AXES)  # [eval]: the rest ([eval.robustness] a table)


TOP_KEYS = ("name", "description", "grid", "eval", "methods", "iterations", "sweep", "method_losses", "method_eval",
            "model_eval", "published")


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    grid: dict[str, list[Any]]
    eval: dict[str, Any]
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    iterations: int | dict[int, int] | None = None  # the distillation budget, or one per ipc
    source: str = ""
    sweep: dict[str, list[Any]] = field(default_factory=dict)  # extra evaluation axes: EvalConfig field -> values
    method_losses: dict[str, list[Any]] = field(default_factory=dict)  # per-method replacement of the losses axis
    published: list[dict[str, Any]] = field(default_factory=list)  # literature numbers for the report (not hashed)
    method_eval: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-method [eval] overrides, applied last
    model_eval: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-architecture ones, before the method's

    @property
    def hash(self) -> str:
        """Stable hash of everything that decides what runs (not the description or published rows)."""
        doc = {"name": self.name, "grid": self.grid, "eval": self.eval, "methods": self.method_params,
               "iterations": self.iterations, "sweep": self.sweep, "method_losses": self.method_losses}
        doc = {**doc, "method_eval": self.method_eval} if self.method_eval else doc
        return stable_hash({**doc, "model_eval": self.model_eval} if self.model_eval else doc)

    def cells(self) -> list[Cell]:
        """All cells, ordered so each artifact's evaluations are consecutive."""
        g = self.grid
        out: list[Cell] = []

        def budgets(ipc: int) -> list[int | None]:  # grid axis of distillation budgets, else the suite's (per ipc)
            return g["iterations"] or [self.iterations.get(ipc) if isinstance(self.iterations, dict) else self.iterations]

        artifacts = [(dataset, method, ipc, seed, iters, secs)
                     for dataset, method, ipc, seed in itertools.product(g["datasets"], g["methods"], g["ipc"], g["seeds"])
                     for iters in budgets(ipc) for secs in g["seconds"] or [None]]
        for dataset, method, ipc, seed, iters, secs in artifacts:
            entry = METHODS.get(method)
            if not entry.uses_ipc and ipc != g["ipc"][0]:
                continue  # one budget-free artifact (e.g. `full`) per dataset and seed
            params = resolve_params(method, self.method_params.get(method))
            eval_seeds = g["eval_seeds"] or [seed]
            sweeps = [dict(zip(self.sweep, vals, strict=True)) for vals in itertools.product(*self.sweep.values())]
            losses = self.method_losses.get(method, g["losses"])
            for model, opt, loss, aug, es, extra in itertools.product(g["models"], g["optimizers"], losses,
                                                                      g["augment"], eval_seeds, sweeps):
                lr = self.eval.get("lr", {}).get(opt)
                fixed = {k: (tuple(v) if isinstance(v, list) else v) for k, v in self.eval.items() if k != "lr"}
                own = {k: (tuple(v) if isinstance(v, list) else v) for k, v in self.method_eval.get(method, {}).items()}
                arch = self.model_eval.get(model, {})
                ev = with_protocol(EvalConfig(model=model, optimizer=opt, lr=lr, loss=loss, augment=aug, seed=es),
                                   dataset, {**fixed, **extra, **arch, **own})
                out.append(Cell(dataset, method, params, ipc if entry.uses_ipc else None, ev, iters,
                                seed if g["eval_seeds"] else None, secs))
        return out


def packaged_suites() -> dict[str, Path]:
    """Suites shipped inside the package, by name."""
    return {p.stem: Path(str(p)) for p in files("benchmarks").joinpath("suites").iterdir() if p.name.endswith(".toml")}


def load_suite(name_or_path: str) -> Suite:
    """A packaged suite by name, or a TOML file by path; validated before anything runs."""
    shipped = packaged_suites()
    path = shipped.get(name_or_path) or Path(name_or_path)
    if not path.is_file():
        raise UserError(f"no suite {name_or_path!r}{suggest(name_or_path, shipped)}: give a packaged suite "
                        f"({', '.join(sorted(shipped))}) or the path of a TOML file")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid TOML: {e}") from None
    except OSError as e:
        raise UserError(f"cannot read the suite {path}: {e.strerror or e}") from None
    return parse_suite(doc, default_name=path.stem, source=str(path))


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


GRID_DEFAULTS: dict[str, list[Any] | None] = {
    "datasets": None, "methods": None, "ipc": [1], "models": None, "optimizers": None, "losses": ["ce"],
    "augment": ["none"], "seeds": [0], "eval_seeds": [], "iterations": [], "seconds": []}
NAMED_AXES = ("datasets", "methods", "models", "optimizers", "augment")  # lists of registered names
TABLES = ("grid", "eval", "methods", "sweep", "method_losses", "method_eval", "model_eval")


def _tables(doc: dict[str, Any], name: str) -> None:
    """The suite's tables must be tables and its scalars scalars of the right type (TOML allows anything)."""
    for key in TABLES:
        if not isinstance(doc.get(key, {}), dict):
            raise UserError(f"suite {name}: {key} must be a table ([{key}]), got {doc[key]!r}")
    for method, params in doc.get("methods", {}).items():
        if not isinstance(params, dict):
            raise UserError(f"suite {name}: methods.{method} must be a table ([methods.{method}]), got {params!r}")
    if not isinstance(doc.get("description", ""), str):
        raise UserError(f"suite {name}: description must be a string")
    if not isinstance(doc.get("published", []), list):
        raise UserError(f"suite {name}: published must be a list of tables ([[published]])")
    _parse_iterations(doc.get("iterations"), name)


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _parse_iterations(value: Any, name: str) -> int | dict[int, int] | None:
    """``iterations = N`` (every artifact's distillation budget) or ``iterations = { 10 = N1, 50 = N2 }`` (per ipc,
    as papers give budgets per set size; an ipc the table leaves out keeps the method's own default)."""
    if value is None or _positive_int(value):
        return value
    if isinstance(value, dict):
        try:
            per_ipc = {int(k): v for k, v in value.items()}
        except ValueError:
            per_ipc = {}
        if per_ipc and all(k >= 1 and _positive_int(v) for k, v in per_ipc.items()):
            return per_ipc
    raise UserError(f"suite {name}: iterations must be a positive integer or a table of them per ipc "
                    f"(e.g. {{ 10 = 19600, 50 = 39200 }}), got {value!r}")


def with_protocol(base: EvalConfig, dataset: str, given: dict[str, Any]) -> EvalConfig:
    """``base`` (the grid's axes) with the fields of the protocol ``given`` names on ``dataset`` (if any) and then
    ``given`` itself on top: a protocol replaces the grid's optimizer, augmentation and [eval.lr]; settings the
    suite states ([eval], [sweep], [method_eval]) override the protocol's (e.g. fewer epochs)."""
    name = given.get("protocol")
    preset = eval_fields(name, dataset) if name is not None else {}
    return replace(base, **{**preset, **given})


def _grid(grid_doc: dict[str, Any], name: str) -> dict[str, list[Any]]:
    """``[grid]`` with defaults filled in; every axis a list, the named ones non-empty lists of strings."""
    unknown = set(grid_doc) - set(GRID_KEYS)
    if unknown:
        bad = sorted(unknown)[0]
        raise UserError(f"suite {name}: unknown grid key {bad!r}{suggest(bad, GRID_KEYS)}")
    missing = [k for k in ("datasets", "methods", "models", "optimizers") if k not in grid_doc]
    if missing:
        raise UserError(f"suite {name}: [grid] needs {', '.join(missing)}")
    grid = {k: _as_list(grid_doc.get(k, d)) for k, d in GRID_DEFAULTS.items()}
    for k in (*NAMED_AXES, "losses"):
        if not grid[k] or not all(isinstance(v, str) or (k == "losses" and isinstance(v, dict)) for v in grid[k]):
            raise UserError(f"suite {name}: [grid] {k} must be a non-empty list of names, got {grid_doc.get(k)!r}")
    for k in ("ipc", "seeds"):
        if not grid[k]:
            raise UserError(f"suite {name}: [grid] {k} must not be empty")
    return grid


def parse_suite(doc: dict[str, Any], default_name: str = "suite", source: str = "") -> Suite:
    """Validate a suite document (a parsed TOML file) and build the Suite: any mistake is one UserError."""
    unknown_top = sorted(set(doc) - set(TOP_KEYS))
    if unknown_top:
        bad = unknown_top[0]
        raise UserError(f"suite {default_name}: unknown table or key {bad!r}{suggest(bad, TOP_KEYS)}; "
                        f"a suite has {', '.join(TOP_KEYS)}")
    name = safe_name(doc.get("name", default_name), "suite name")
    _tables(doc, name)
    grid = _grid(doc.get("grid", {}), name)
    ev = dict(doc.get("eval", {}))
    bad_eval = set(ev) - set(EVAL_KEYS)
    if bad_eval:
        bad = sorted(bad_eval)[0]
        raise UserError(f"suite {name}: unknown [eval] key {bad!r}{suggest(bad, EVAL_KEYS)}")
    extra = sorted(set(doc.get("methods", {})) - set(grid["methods"]))
    if extra:
        raise UserError(f"suite {name}: [methods.{extra[0]}] sets parameters of a method that is not in the grid's "
                        f"methods{suggest(extra[0], grid['methods'])}")
    suite = Suite(
        name=name, description=doc.get("description", ""), grid=grid, eval=ev,
        method_params={k: dict(v) for k, v in doc.get("methods", {}).items()},
        iterations=_parse_iterations(doc.get("iterations"), name), source=source, sweep=_parse_sweep(doc.get("sweep", {}), name),
        method_losses=_parse_method_losses(doc.get("method_losses", {}), grid["methods"], name),
        published=_parse_published(doc.get("published", []), name),
        method_eval=_parse_overrides(doc.get("method_eval", {}), grid["methods"], name, "method_eval", "methods"),
        model_eval=_parse_overrides(doc.get("model_eval", {}), grid["models"], name, "model_eval", "models"),
    )
    _check(suite)
    return suite


SWEEPABLE = tuple(k for k in EVAL_KEYS if k not in ("lr", "lr_grid", "robustness"))


def _parse_sweep(doc: dict[str, Any], name: str) -> dict[str, list[Any]]:
    """``[sweep]``: evaluation settings to vary (each a list), e.g. ``steps_offset = [-50, 0, 50]``."""
    for k, v in doc.items():
        if k not in SWEEPABLE:
            raise UserError(f"suite {name}: [sweep] cannot vary {k!r}{suggest(k, SWEEPABLE)}; it varies {', '.join(SWEEPABLE)}")
        if not isinstance(v, list) or not v:
            raise UserError(f"suite {name}: [sweep] {k} must be a non-empty list")
    return {k: list(v) for k, v in doc.items()}


def _parse_method_losses(doc: dict[str, Any], methods: list[str], name: str) -> dict[str, list[Any]]:
    """``[method_losses]``: a method's own losses axis, e.g. GIFT only for the soft-label methods."""
    for m, v in doc.items():
        if m not in methods:
            raise UserError(f"suite {name}: [method_losses] names {m!r}, which is not in the grid's methods"
                            f"{suggest(m, methods)}")
        if not isinstance(v, list) or not v or not all(isinstance(x, (str, dict)) for x in v):
            raise UserError(f"suite {name}: [method_losses] {m} must be a non-empty list of losses")
    return {m: list(v) for m, v in doc.items()}


def _parse_overrides(doc: dict[str, Any], names: list[str], name: str, table: str, axis: str) -> dict[str, dict[str, Any]]:
    """``[method_eval.NAME]`` / ``[model_eval.NAME]``: evaluation settings of one method (e.g. fewer epochs for the
    full set) or one architecture (e.g. fewer steps where one evaluation is too slow), never the grid's axes."""
    for m, v in doc.items():
        if m not in names:
            raise UserError(f"suite {name}: [{table}] names {m!r}, which is not in the grid's {axis}{suggest(m, names)}")
        if not isinstance(v, dict):
            raise UserError(f"suite {name}: [{table}.{m}] must be a table of evaluation settings")
        for k in v:
            if k not in SWEEPABLE:
                raise UserError(f"suite {name}: [{table}.{m}] cannot set {k!r}{suggest(k, SWEEPABLE)}")
    return {m: dict(v) for m, v in doc.items()}


PUBLISHED_KEYS = {"dataset": str, "method": str, "ipc": (int, str), "acc": (int, float), "std": (int, float),
                  "ref": str, "source": str, "protocol": str}
PUBLISHED_OPTIONAL = ("std", "protocol")  # protocol: the published preset it was measured under (shown beside those rows only)


def _parse_published(rows: list[Any], name: str) -> list[dict[str, Any]]:
    """``[[published]]``: literature numbers (dataset, method, ipc, acc, optional std and protocol, ref, source) that
    the report prints beside the suite's own; they change nothing that runs, so the hash ignores them."""
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UserError(f"suite {name}: [[published]] entry {i} must be a table")
        bad = sorted(set(row) - set(PUBLISHED_KEYS))
        if bad:
            raise UserError(f"suite {name}: [[published]] entry {i} has unknown key {bad[0]!r}"
                            f"{suggest(bad[0], PUBLISHED_KEYS)}")
        missing = [k for k in PUBLISHED_KEYS if k not in PUBLISHED_OPTIONAL and k not in row]
        if missing:
            raise UserError(f"suite {name}: [[published]] entry {i} needs {', '.join(missing)}")
        wrong = [k for k, v in row.items() if not isinstance(v, PUBLISHED_KEYS[k]) or isinstance(v, bool)]
        if wrong:
            raise UserError(f"suite {name}: [[published]] entry {i}: {wrong[0]} has the wrong type ({row[wrong[0]]!r})")
    return [dict(r) for r in rows]


def published_row(published: list[dict[str, Any]], dataset: str, method: str, ipc: Any,
                  protocol: str = "-") -> dict[str, Any] | None:
    """The ``[[published]]`` row for a report line; a row naming a protocol belongs to that protocol's lines only."""
    return next((p for p in published if p["dataset"] == dataset and p["method"] == method
                 and str(p["ipc"]) == str(ipc) and p.get("protocol", protocol) == protocol), None)


def _check(s: Suite) -> None:
    """Resolve every name now so a typo fails before hours of running, not in the middle."""
    for d in s.grid["datasets"]:
        DATASETS.get(d)
    for m in s.grid["methods"]:
        METHODS.get(m)
    for m in s.grid["models"]:
        if m not in ZOO:
            import timm

            if not timm.is_model(m):
                ZOO.get(m)
    for o in s.grid["optimizers"]:
        OPTIMIZERS.get(o)
    for loss in [*s.grid["losses"], *(x for v in s.method_losses.values() for x in v)]:
        resolve_loss(loss)
    for a in s.grid["augment"]:
        AUGMENTATIONS.get(a)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in s.grid["iterations"]):
        raise UserError(f"suite {s.name}: iterations must be a list of positive integers")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in s.grid["seconds"]):
        raise UserError(f"suite {s.name}: seconds must be a list of positive numbers (a wall-clock cap per artifact)")
    for k in ("ipc", "seeds", "eval_seeds"):
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= (1 if k == "ipc" else 0) for v in s.grid[k]):
            raise UserError(f"suite {s.name}: {k} must be a list of {'positive' if k == 'ipc' else 'non-negative'} integers")
    for m, params in s.method_params.items():
        resolve_params(m, params)
    base = {k: (tuple(v) if isinstance(v, list) else v) for k, v in s.eval.items() if k != "lr"}
    EvalConfig(**base).check()
    SCHEDULES.get(base.get("schedule", "cosine"))
    lrs = s.eval.get("lr", {})
    if not isinstance(lrs, dict):
        raise UserError(f"suite {s.name}: [eval.lr] must be a table of optimizer = learning rate, got {lrs!r}")
    for o, v in lrs.items():
        OPTIMIZERS.get(o)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
            raise UserError(f"suite {s.name}: [eval.lr] {o} = {v!r}: a learning rate must be a positive number")
    for k, values in s.sweep.items():
        for v in values:
            EvalConfig(**{**base, k: v}).check()
    for own in [*s.method_eval.values(), *s.model_eval.values()]:
        EvalConfig(**{**base, **{k: (tuple(v) if isinstance(v, list) else v) for k, v in own.items()}}).check()
    _check_robustness_reference(s)
    protocols = [*_as_list(s.eval.get("protocol")), *s.sweep.get("protocol", []),
                 *(own["protocol"] for own in s.method_eval.values() if "protocol" in own)]
    if any(p is not None for p in protocols) and (len(s.grid["optimizers"]) > 1 or len(s.grid["augment"]) > 1):
        raise UserError(f"suite {s.name}: a protocol fixes the optimizer and augmentation; list one of each in [grid]")


def _check_robustness_reference(s: Suite) -> None:
    """A suite that measures robustness needs its reference row: the relative corruption error of a set is
    measured against the full-data model trained under the same protocol, panel included ([method_eval]
    cannot change the panel, so the suite's [eval.robustness] covers every row)."""
    if s.eval.get("robustness") is not None and "full" not in s.grid["methods"]:
        raise UserError(f"suite {s.name}: [eval.robustness] has no reference row to measure the relative corruption "
                        "error against; add \"full\" to [grid] methods")

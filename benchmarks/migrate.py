"""``ddbench migrate``: bring stored records to the current ``RECORD_SCHEMA`` in place. Nothing is re-run.

Schema 1 -> 2: configs carry every field (schema 1 left ``seconds``, ``steps_offset``, ``order_seed`` and
``lr_from_artifact`` out at their defaults); the key hashes the *requested* precision (schema 1 stored the
machine's resolved one, e.g. "bf16" for a suite's "auto"), which moves to ``execution`` with ``compiled``
and ``stacked_models`` (schema 1 kept those two in ``cost``); keys are re-derived (16 hex digits).
Schema 2 -> 3: eval configs gain ``epochs``, ``weight_decay_all`` and ``protocol`` (None, False, None: what every
schema-2 record ran); keys
are re-derived. Schema 3 -> 4: eval configs gain ``lr_per_architecture`` (False). An older record is upgraded one
schema at a time.

Corrections (``CORRECTIONS``) fix data of the current schema in place: ``correct_mfu`` bounds mfu by 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmarks.artifact import write_json_atomic
from benchmarks.cost import mfu_fields
from benchmarks.errors import UserError
from benchmarks.spec import RECORD_SCHEMA, cell_key, stable_hash, validate_record

V1_EVAL_DEFAULTS = {"steps_offset": 0, "order_seed": None, "lr_from_artifact": False, "robustness": None}
V2_EVAL_DEFAULTS = {"epochs": None, "weight_decay_all": False, "protocol": None}
V3_EVAL_DEFAULTS = {"lr_per_architecture": False}


def _precision_free(config: dict[str, Any]) -> str:
    """A cell's identity without its precision, any schema's fields filled in to the current ones."""
    ev = {**V2_EVAL_DEFAULTS, **V3_EVAL_DEFAULTS, **config["eval"]}
    return stable_hash({**config, "eval": {k: v for k, v in ev.items() if k != "precision"}})


def upgrade_v1(record: dict[str, Any], requested: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A schema-1 record as schema 2. ``requested`` maps a cell's precision-free identity to (its requested
    precision, the suite hash) for the cells the suite defines now."""
    config = {**record["config"], "seconds": record["config"].get("seconds")}
    config["eval"] = {**V1_EVAL_DEFAULTS, **config["eval"]}
    ran_with = config["eval"]["precision"]
    precision, suite_hash = requested.get(_precision_free(config), (ran_with, record.get("suite_hash")))
    config["eval"]["precision"] = precision
    cost = dict(record.get("cost") or {})
    execution = {"precision": ran_with, "compiled": cost.pop("compiled", None),
                 "stacked_models": cost.pop("stacked_models", None)} if record["status"] == "ok" else {}
    out = {**record, "schema": 2, "config": config, "key": cell_key(config), "cost": cost,
           "execution": execution, "suite_hash": suite_hash}
    if out["status"] == "error":
        out["error_kind"] = "cell"
    return out


def upgrade_v2(record: dict[str, Any], requested: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A schema-2 record as schema 3: the new eval fields at their defaults, the key re-derived."""
    config = {**record["config"], "eval": {**record["config"]["eval"], **V2_EVAL_DEFAULTS}}
    return {**record, "schema": 3, "config": config, "key": cell_key(config)}


def upgrade_v3(record: dict[str, Any], requested: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A schema-3 record as schema 4: ``lr_per_architecture`` (False: what every schema-3 record ran), key re-derived."""
    config = {**record["config"], "eval": {**record["config"]["eval"], **V3_EVAL_DEFAULTS}}
    return {**record, "schema": 4, "config": config, "key": cell_key(config)}


UPGRADES = {1: upgrade_v1, 2: upgrade_v2, 3: upgrade_v3}


def upgrade(record: dict[str, Any], requested: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """``record`` brought to ``RECORD_SCHEMA`` one schema at a time (UserError where no upgrade exists)."""
    while record.get("schema") != RECORD_SCHEMA:
        step = UPGRADES.get(record.get("schema"))  # type: ignore[arg-type]
        if step is None:
            raise UserError(f"no migration from schema {record.get('schema')!r}")
        record = step(record, requested)
    return record


def correct_mfu(record: dict[str, Any]) -> dict[str, Any]:
    """``mfu`` recomputed from ``achieved_flops_per_s`` against max(recorded peak, achieved), so never above 1
    (the peak was measured under whatever load the machine had); the recorded peak is kept beside it."""
    cost = record.get("cost") or {}
    achieved, peak = cost.get("achieved_flops_per_s"), cost.get("matmul_peak_flops_per_s")
    if achieved is None or not peak:
        return record
    fixed = {**cost, **mfu_fields(float(achieved), float(peak))}
    return record if fixed == cost else {**record, "cost": fixed}


CORRECTIONS = (correct_mfu,)  # fixes of current-schema data, applied to every record; each is idempotent


def migrate_dir(records_dir: Path, suite: Any | None) -> dict[str, int]:
    """Upgrade every older record in ``records_dir`` and apply ``CORRECTIONS``; returns counts of migrated,
    corrected, current (untouched) and unmatched records."""
    import json

    requested = {}
    if suite is not None:
        requested = {_precision_free(c.config): (c.eval.precision, suite.hash) for c in suite.cells()}
    counts = {"migrated": 0, "corrected": 0, "current": 0, "unmatched": 0}
    for path in sorted(records_dir.glob("*.json")):
        record = json.loads(path.read_text())
        new = record
        if record.get("schema") != RECORD_SCHEMA:
            if record.get("schema") not in UPGRADES:
                raise UserError(f"{path}: no migration from schema {record.get('schema')!r}")
            new = upgrade(record, requested)
            counts["unmatched"] += _precision_free(new["config"]) not in requested
        for correct in CORRECTIONS:
            new = correct(new)
        if new == record:
            counts["current"] += 1
            continue
        problems = validate_record(new)
        if problems:
            raise UserError(f"{path}: the migrated record is invalid ({problems[0]}); nothing was changed for it")
        target = records_dir / f"{new['key']}.json"
        write_json_atomic(target, new)
        if target != path:
            os.remove(path)
        counts["migrated" if record.get("schema") != RECORD_SCHEMA else "corrected"] += 1
    return counts


def migrate_suites(names: list[str]) -> list[str]:
    """Migrate the named suites' records (default: every reports/<suite>/records folder); one line per suite."""
    from benchmarks.paths import reports_dir
    from benchmarks.suite import load_suite, packaged_suites

    root = reports_dir()
    names = names or sorted(p.parent.name for p in root.glob("*/records") if p.is_dir())
    lines = []
    for name in names:
        folder = root / name / "records"
        if not folder.is_dir():
            raise UserError(f"no records folder {folder}")
        suite = load_suite(name) if name in packaged_suites() else None
        c = migrate_dir(folder, suite)
        lines.append(f"{name}: {c['migrated']} migrated, {c['corrected']} corrected, {c['current']} already current"
                     + (f", {c['unmatched']} match no cell of the current suite (kept as recorded)" if c["unmatched"] else ""))
    return lines

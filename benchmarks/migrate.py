"""``ddbench migrate``: bring stored records to the current ``RECORD_SCHEMA`` in place. Nothing is re-run.

Schema 1 -> 2: configs carry every field (schema 1 left ``seconds``, ``steps_offset``, ``order_seed`` and
``lr_from_artifact`` out at their defaults); the key hashes the *requested* precision (schema 1 stored the
machine's resolved one, e.g. "bf16" for a suite's "auto"), which moves to ``execution`` with ``compiled``
and ``stacked_models`` (schema 1 kept those two in ``cost``); keys are re-derived (16 hex digits).
Schema 2 -> 3: eval configs gain ``epochs``, ``weight_decay_all`` and ``protocol`` (None, False, None: what every
schema-2 record ran); keys
are re-derived. Schema 3 -> 4: eval configs gain ``lr_per_architecture`` (False). Schema 4 -> 5: the label-distillation
methods' params gain ``val_init`` ("seeded": how every schema-4 record's labels were selected); keys are re-derived,
and cached artifacts of those methods move to their new artifact keys (``rekey_cached_artifacts``). Schema 5 -> 6: eval
configs gain ``max_steps`` (None: the fair protocol chose no training length); keys are re-derived. An older record
is upgraded one schema at a time.

Corrections (``CORRECTIONS``) fix data of the current schema in place: ``correct_mfu`` bounds mfu by 1;
``correct_distill_wall`` gives a record the corrected wall of its resumed distillation. Before that, the cost of
cached artifacts whose distillation was resumed is corrected (``correct_artifact_cost``): their ``wall_s`` was the
last process's seconds only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmarks.artifact import write_json_atomic
from benchmarks.cost import mfu_fields
from benchmarks.errors import UserError
from benchmarks.spec import RECORD_SCHEMA, cell_key, distill_config, stable_hash, validate_record

V1_EVAL_DEFAULTS = {"steps_offset": 0, "order_seed": None, "lr_from_artifact": False, "robustness": None}
V2_EVAL_DEFAULTS = {"epochs": None, "weight_decay_all": False, "protocol": None}
V3_EVAL_DEFAULTS = {"lr_per_architecture": False}
V4_METHOD_PARAMS = {m: {"val_init": "seeded"} for m in ("ld", "ld_warm", "ld_rr")}
V5_EVAL_DEFAULTS = {"max_steps": None}


def _v4_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """A method's params with the fields schema 5 added, at the values schema-4 runs used (explicit ones kept)."""
    return {**V4_METHOD_PARAMS.get(method, {}), **params}


def _precision_free(config: dict[str, Any]) -> str:
    """A cell's identity without its precision, any schema's fields filled in to the current ones."""
    ev = {**V2_EVAL_DEFAULTS, **V3_EVAL_DEFAULTS, **V5_EVAL_DEFAULTS, **config["eval"]}
    params = _v4_params(config["method"], config.get("params") or {})
    return stable_hash({**config, "params": params, "eval": {k: v for k, v in ev.items() if k != "precision"}})


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


def upgrade_v4(record: dict[str, Any], requested: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A schema-4 record as schema 5: label distillation's ``val_init`` ("seeded"), key re-derived."""
    config = {**record["config"], "params": _v4_params(record["config"]["method"], record["config"]["params"])}
    return {**record, "schema": 5, "config": config, "key": cell_key(config)}


def upgrade_v5(record: dict[str, Any], requested: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A schema-5 record as schema 6: ``max_steps`` (None: every schema-5 record trained its config's steps), key
    re-derived."""
    config = {**record["config"], "eval": {**record["config"]["eval"], **V5_EVAL_DEFAULTS}}
    return {**record, "schema": 6, "config": config, "key": cell_key(config)}


UPGRADES = {1: upgrade_v1, 2: upgrade_v2, 3: upgrade_v3, 4: upgrade_v4, 5: upgrade_v5}


def rekey_cached_artifacts(cache: Path) -> int:
    """Move cached artifacts whose method gained params in schema 5 to the folder their artifact key names now
    (the content, and so its hash, is unchanged: the header keeps the params it was made with). Only a folder
    whose name is the key its header's config gives under the old params moves, and never onto an existing one;
    returns how many moved. An interrupted distillation's checkpoint is not moved: it starts again."""
    import json

    moved = 0
    for header in sorted((cache / "artifacts").glob("*/*.json")):
        meta = json.loads(header.read_text()).get("meta") or {}
        method, params = meta.get("method"), meta.get("params")
        if method not in V4_METHOD_PARAMS or not isinstance(params, dict):
            continue
        key = (meta.get("dataset"), method)
        old = stable_hash(distill_config(*key, params, meta.get("ipc"), meta.get("iterations"), meta.get("seconds"),
                                         meta.get("seed")))
        new = stable_hash(distill_config(*key, _v4_params(method, params), meta.get("ipc"), meta.get("iterations"),
                                         meta.get("seconds"), meta.get("seed")))
        folder, target = header.parent, header.parent.parent / new
        if folder.name == old != new and not target.exists():
            os.replace(folder, target)
            moved += 1
    return moved


def upgrade(record: dict[str, Any], requested: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """``record`` brought to ``RECORD_SCHEMA`` one schema at a time (UserError where no upgrade exists)."""
    while record.get("schema") != RECORD_SCHEMA:
        step = UPGRADES.get(record.get("schema"))  # type: ignore[arg-type]
        if step is None:
            raise UserError(f"no migration from schema {record.get('schema')!r}")
        record = step(record, requested)
    return record


def correct_mfu(record: dict[str, Any], artifacts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``mfu`` recomputed from ``achieved_flops_per_s`` against max(recorded peak, achieved), so never above 1
    (the peak was measured under whatever load the machine had); the recorded peak is kept beside it."""
    cost = record.get("cost") or {}
    achieved, peak = cost.get("achieved_flops_per_s"), cost.get("matmul_peak_flops_per_s")
    if achieved is None or not peak:
        return record
    fixed = {**cost, **mfu_fields(float(achieved), float(peak))}
    return record if fixed == cost else {**record, "cost": fixed}


def correct_artifact_cost(meta: dict[str, Any]) -> dict[str, Any]:
    """The cost of a resumed distillation stored before ``wall_s`` summed its processes (``cost.distill_seconds``):
    the earlier processes' wall (saved as ``earlier_wall_s`` by plain loops; for label distillation the selection
    timeline's entry at the iteration it resumed from, since that timeline continued the saved clock) is added.
    Their CPU seconds were not kept, so ``cpu_s`` stays unknown. Idempotent; other metadata is returned as is."""
    cost = meta.get("cost") or {}
    at = cost.get("resumed_at_iteration")
    if at is None or "segment_wall_s" in cost:
        return meta
    earlier = cost.get("earlier_wall_s")
    if earlier is None:
        timeline = [s for (it, *_), s in zip(meta.get("selection", []), cost.get("selection_s", []), strict=False) if it == at]
        if not timeline:
            return meta
        earlier = timeline[0]
    fixed = {**cost, "earlier_wall_s": earlier, "earlier_cpu_s": None, "segment_wall_s": cost["wall_s"],
             "wall_s": round(earlier + cost["wall_s"], 4)}
    return {**meta, "cost": fixed}


def correct_cached_artifacts(cache: Path) -> dict[str, dict[str, Any]]:
    """Apply ``correct_artifact_cost`` to the cached artifacts' headers (their cost is outside the content hash, so
    the hash still holds); returns every cached artifact's cost by content hash."""
    import json

    costs = {}
    for header in sorted((cache / "artifacts").glob("*/*.json")):
        doc = json.loads(header.read_text())
        meta = correct_artifact_cost(doc.get("meta") or {})
        if meta is not doc.get("meta"):
            write_json_atomic(header, {**doc, "meta": meta})
        if "hash" in doc:
            costs[doc["hash"]] = meta.get("cost") or {}
    return costs


def correct_distill_wall(record: dict[str, Any], artifacts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A record that took its ``distill_wall_s`` from a resumed artifact's last process (``segment_wall_s``) gets the
    artifact's summed wall. Records of an artifact distilled again since (same content, other seconds) keep theirs."""
    art = artifacts.get((record.get("artifact") or {}).get("hash"), {})
    cost = record.get("cost") or {}
    if "segment_wall_s" not in art or cost.get("distill_wall_s") != art["segment_wall_s"]:
        return record
    return {**record, "cost": {**cost, "distill_wall_s": art["wall_s"]}}


CORRECTIONS = (correct_mfu, correct_distill_wall)  # fixes of current-schema data, applied to every record; idempotent


def migrate_dir(records_dir: Path, suite: Any | None, artifacts: dict[str, dict[str, Any]] | None = None) -> dict[str, int]:
    """Upgrade every older record in ``records_dir`` and apply ``CORRECTIONS`` (``artifacts``: cached artifacts'
    cost by hash); returns counts of migrated, corrected, current (untouched) and unmatched records."""
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
            new = correct(new, artifacts or {})
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
    from benchmarks.paths import cache_dir, reports_dir
    from benchmarks.suite import load_suite, packaged_suites

    root = reports_dir()
    names = names or sorted(p.parent.name for p in root.glob("*/records") if p.is_dir())
    moved = rekey_cached_artifacts(cache_dir())
    artifacts = correct_cached_artifacts(cache_dir())
    lines = [f"cache: {moved} artifact(s) moved to their schema-5 keys"] if moved else []
    for name in names:
        folder = root / name / "records"
        if not folder.is_dir():
            raise UserError(f"no records folder {folder}")
        suite = load_suite(name) if name in packaged_suites() else None
        c = migrate_dir(folder, suite, artifacts)
        lines.append(f"{name}: {c['migrated']} migrated, {c['corrected']} corrected, {c['current']} already current"
                     + (f", {c['unmatched']} match no cell of the current suite (kept as recorded)" if c["unmatched"] else ""))
    return lines

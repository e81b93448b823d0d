"""Schema 4 -> 5: label distillation's records and cached artifacts gain ``val_init`` under new keys; schema 5 -> 6:
every record's eval config gains ``max_steps`` (None) and the key the same cell has today."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks.artifact import DistilledSet, load_artifact
from benchmarks.methods import resolve_params
from benchmarks.migrate import V4_METHOD_PARAMS, V5_EVAL_DEFAULTS, rekey_cached_artifacts, upgrade
from benchmarks.spec import RECORD_SCHEMA, EvalConfig, cell_key, distill_config, stable_hash, validate_record


def _old(method: str, params: dict, schema: int = 4) -> dict:
    ev = {k: v for k, v in EvalConfig().resolved().items() if k not in V5_EVAL_DEFAULTS}  # as schemas 4 and 5 wrote it
    config = {**distill_config("digits", method, params, 2, 12, None, 0), "eval": ev}
    return {"key": cell_key(config), "schema": schema, "suite": "s", "config": config, "status": "ok",
            "metrics": {"test_acc": 50.0, "val_acc": 50.0}, "cost": {}, "execution": {}, "provenance": {}}


@pytest.mark.parametrize("method", sorted(V4_METHOD_PARAMS))
def test_a_label_distillation_record_gains_the_validation_it_ran_with_and_the_key_a_pinned_cell_has(method):
    old_params = {k: v for k, v in resolve_params(method, {}).items() if k != "val_init"}
    new = upgrade(_old(method, old_params), {})
    assert new["schema"] == RECORD_SCHEMA and validate_record(new) == []
    assert new["config"]["params"] == resolve_params(method, {"val_init": "seeded"})
    today = {**distill_config("digits", method, resolve_params(method, {"val_init": "seeded"}), 2, 12, None, 0),
             "eval": EvalConfig().resolved()}  # a suite pins "seeded" to keep its schema-4 records
    assert new["key"] == cell_key(today)
    explicit = upgrade(_old(method, {**old_params, "val_init": "fresh"}), {})
    assert explicit["config"]["params"]["val_init"] == "fresh"


def test_other_methods_keep_their_params():
    old = _old("random", resolve_params("random", {}))
    new = upgrade(old, {})
    assert new["schema"] == RECORD_SCHEMA and new["config"]["params"] == old["config"]["params"]


@pytest.mark.parametrize("schema", [4, 5])
def test_a_record_gains_max_steps_unset_and_the_key_its_cell_has_today(schema):
    old = _old("random", resolve_params("random", {}), schema)
    new = upgrade(old, {})
    today = {**distill_config("digits", "random", resolve_params("random", {}), 2, 12, None, 0),
             "eval": EvalConfig().resolved()}
    assert new["config"]["eval"]["max_steps"] is None and new["key"] == cell_key(today) != old["key"]
    assert validate_record(new) == []
    assert {k: v for k, v in new["config"]["eval"].items() if k != "max_steps"} == old["config"]["eval"]


def _cache_artifact(cache: Path, method: str, params: dict) -> Path:
    meta = {"method": method, "params": params, "dataset": "digits", "ipc": 1, "iterations": 5, "seed": 0}
    key = stable_hash(distill_config("digits", method, params, 1, 5, None, 0))
    DistilledSet(torch.rand(2, 1, 8, 8), torch.tensor([[0.9, 0.1], [0.2, 0.8]]), "soft", 2, meta=meta).save(
        cache / "artifacts" / key)
    return cache / "artifacts" / key


def test_cached_label_distillation_artifacts_move_to_their_new_keys_unchanged(tmp_path):
    params = {k: v for k, v in resolve_params("ld", {}).items() if k != "val_init"}
    ld = _cache_artifact(tmp_path, "ld", params)
    other = _cache_artifact(tmp_path, "random", {})
    before = load_artifact(next(ld.glob("*.json")))
    assert rekey_cached_artifacts(tmp_path) == 1
    seeded = resolve_params("ld", {"val_init": "seeded"})
    moved = tmp_path / "artifacts" / stable_hash(distill_config("digits", "ld", seeded, 1, 5, None, 0))
    assert not ld.exists() and other.exists() and moved.exists()
    after = load_artifact(next(moved.glob("*.json")))  # its hash still holds: the content did not change
    assert after.content_hash() == before.content_hash() and torch.equal(after.labels, before.labels)
    assert rekey_cached_artifacts(tmp_path) == 0  # idempotent


def test_a_cached_artifact_in_a_folder_its_config_does_not_name_stays(tmp_path):
    params = {k: v for k, v in resolve_params("ld", {}).items() if k != "val_init"}
    folder = _cache_artifact(tmp_path, "ld", params)
    stray = folder.with_name("0123456789abcdef")
    folder.rename(stray)
    assert rekey_cached_artifacts(tmp_path) == 0 and stray.exists()

import json

import pytest

from benchmarks.driver import run_suite
from benchmarks.spec import RECORD_SCHEMA, cell_key, validate_record
from benchmarks.store import Store
from benchmarks.suite import parse_suite

TINY = {
    "name": "tiny",
    "grid": {"datasets": ["digits"], "methods": ["random"], "ipc": [2], "models": ["convnet3_w32"],
             "optimizers": ["adam", "momentum"], "seeds": [0, 1]},
    "eval": {"steps": 15, "batch_size": 20},
}


class Interrupt(KeyboardInterrupt):
    pass


def test_resume_after_interruption_loses_and_duplicates_nothing(tmp_path, cpu):
    suite = parse_suite(TINY)
    n = len(suite.cells())
    seen = []

    def stop_after_two(record):
        seen.append(record["key"])
        if len(seen) == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_suite(suite, tmp_path, cpu, progress=False, on_record=stop_after_two)
    store = Store(tmp_path)
    assert store.keys() == set(seen)
    before = {k: store.path(k).read_bytes() for k in seen}
    counts = run_suite(suite, tmp_path, cpu, progress=False)
    assert counts == {"cells": n, "stored": 2, "not_selected": 0, "ok": n - 2, "error": 0, "other": 0}
    assert len(store.keys()) == n and len(list(tmp_path.iterdir())) == n  # no temp files, no duplicates
    assert all(store.path(k).read_bytes() == before[k] for k in seen)  # nothing rewritten
    again = run_suite(suite, tmp_path, cpu, progress=False)
    assert again["stored"] == n and again["ok"] == 0


def test_a_failing_cell_becomes_an_error_record_and_the_suite_goes_on(tmp_path, cpu):
    doc = json.loads(json.dumps(TINY))
    doc["grid"]["models"] = ["convnet3_w32", "convnet4"]  # depth 4 at 16 px leaves 1x1 -> fine; force failure below
    doc["grid"]["ipc"] = [2]
    doc["eval"]["steps"] = 5
    suite = parse_suite(doc)
    import benchmarks.runner as runner

    real = runner.evaluate_seeds

    def flaky(dss, data, cfgs, device, stacked=None):
        if cfgs[0].model == "convnet4":
            raise RuntimeError("simulated out of memory")
        return real(dss, data, cfgs, device, stacked)

    mp = pytest.MonkeyPatch()
    mp.setattr(runner, "evaluate_seeds", flaky)
    try:
        counts = run_suite(suite, tmp_path, cpu, progress=False)
    finally:
        mp.undo()
    assert counts["error"] == counts["ok"] == len(suite.cells()) // 2
    errors = [r for r in Store(tmp_path).records() if r["status"] == "error"]
    assert all("simulated out of memory" in r["error"] for r in errors)
    assert all(not validate_record(r) for r in Store(tmp_path).records())
    # --retry-errors runs exactly the failed cells again
    counts = run_suite(suite, tmp_path, cpu, progress=False, retry_errors=True)
    assert counts["ok"] == len(errors) and counts["error"] == 0


def test_records_are_validated_and_keyed_by_config():
    config = {"a": 1, "eval": {}}
    rec = {"key": cell_key(config), "schema": RECORD_SCHEMA, "suite": "s", "config": config, "status": "ok",
           "metrics": {"test_acc": 50.0, "val_acc": 40.0}, "cost": {}, "execution": {}, "provenance": {}}
    assert validate_record(rec) == []
    assert validate_record({**rec, "key": "x"}) == ["key does not match the hash of its config"]
    assert validate_record({**rec, "metrics": {"test_acc": 0.5e3, "val_acc": 1}})
    assert validate_record({**rec, "status": "error"}) == ["an error record needs its error message"]


def _rewrite_execution(store: Store, precision: str) -> None:
    """Make the stored records look as if another machine resolved "auto" differently."""
    for r in store.records():
        r["execution"]["precision"] = precision
        store.put(r)


def test_auto_precision_cells_stored_by_another_machine_are_not_run_again(tmp_path, cpu):
    doc = json.loads(json.dumps(TINY))
    doc["grid"]["optimizers"], doc["grid"]["seeds"], doc["eval"]["steps"] = ["adam"], [0], 5
    suite = parse_suite(doc)  # precision "auto": fp32 on a CPU without bf16, bf16 on one with it
    assert run_suite(suite, tmp_path, cpu, progress=False)["ok"] == 1
    store = Store(tmp_path)
    (record,) = store.records()
    assert record["config"]["eval"]["precision"] == "auto"  # the key hashes what was asked
    assert record["execution"]["precision"] in ("fp32", "bf16")  # what this machine made of it sits beside
    other = "bf16" if record["execution"]["precision"] == "fp32" else "fp32"
    _rewrite_execution(store, other)
    assert run_suite(suite, tmp_path, cpu, progress=False) == {"cells": 1, "stored": 1, "not_selected": 0, "ok": 0,
                                                                "error": 0, "other": 0}
    # an explicit precision is another cell
    doc["eval"]["precision"] = "fp32"
    assert run_suite(parse_suite(doc), tmp_path, cpu, progress=False)["ok"] == 1

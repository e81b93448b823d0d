"""The bf16 check trains a suite's cells at the recipe their fp32 records chose: its fp32 arm repeats a record bit
for bit, so a stored record can stand for it; its bf16 arm really runs under bf16."""

from __future__ import annotations

import pytest

from benchmarks import policy
from benchmarks.driver import run_suite
from benchmarks.perf.bf16_check import check_model, fixed_recipe, markdown
from benchmarks.store import Store
from benchmarks.suite import parse_suite

FAIR = {"name": "fair-bf16", "grid": {"datasets": ["digits"], "methods": ["random"], "ipc": [2],
                                      "models": ["convnet3_w32"], "optimizers": ["adam"], "seeds": [0, 1]},
        "eval": {"steps": 15, "batch_size": 20, "val_size": 200, "lr_per_architecture": True,
                 "lr_grid": [0.1, 1.0, 10.0], "max_steps": 45}}


@pytest.fixture(scope="module")
def stored(cpu, tmp_path_factory):
    suite = parse_suite(FAIR)
    records = tmp_path_factory.mktemp("bf16") / "records"
    run_suite(suite, records, cpu, progress=False)
    return suite, Store(records)


def test_the_fp32_arm_repeats_each_record_and_the_bf16_arm_runs_bf16(stored, cpu):
    suite, store = stored
    out = check_model(suite, store, "convnet3_w32", "random", [0, 1], True, cpu)
    chosen = store.records()[0]["metrics"]
    assert out["recipe"].startswith(f"lr {chosen['lr_tuning']['lr']:.4g} and {chosen['steps_tuning']['steps']} steps")
    for row in out["seeds"]:
        assert row["fp32"]["source"] == "trained" and row["fp32"]["test_acc"] == row["fp32"]["record_test_acc"]
        assert row["fp32"]["execution"]["precision"] == "fp32" and row["bf16"]["execution"]["precision"] == "bf16"
        assert row["diff"] == round(row["bf16"]["test_acc"] - row["fp32"]["test_acc"], 2)
    assert out["verified"] == (abs(out["mean_diff"]) <= policy.BF16_MAX_DIFF)
    reused = check_model(suite, store, "convnet3_w32", "random", [1], False, cpu)["seeds"][0]
    assert reused["fp32"]["source"].startswith("record ") and reused["bf16"] == {**out["seeds"][1]["bf16"],
                                                                               "cpu_s": reused["bf16"]["cpu_s"],
                                                                               "wall_s": reused["bf16"]["wall_s"]}
    measured = {"machine": "m", "threads": 1, "torch": "t", "commit": "c", "date": "d", "conditions": None,
                "command": "cmd"}
    text = markdown({"suite": suite.name, "method": "random", "max_diff": policy.BF16_MAX_DIFF,
                     "models": [{**out, "measured": measured}]})
    assert "convnet3_w32" in text and "`cmd`" in text and f"{out['mean_diff']:+.2f}" in text


def test_without_a_record_that_carries_the_choices_it_refuses_unless_given_a_recipe(stored):
    suite, _ = stored
    with pytest.raises(SystemExit, match="no fp32 record of convnet3_w32"):
        fixed_recipe(suite.cells()[0].eval, [])
    cfg, text = fixed_recipe(suite.cells()[0].eval, [], lr=0.05, steps=20)
    assert (cfg.lr, cfg.steps, cfg.lr_per_architecture, cfg.max_steps, cfg.lr_grid) == (0.05, 20, False, None, ())
    assert text == "lr 0.05 and 20 steps, given (not chosen by the suite)"

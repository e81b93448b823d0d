"""Image-distillation baselines on real digits at small budgets: their losses fall, their images train."""

import pytest
import torch

from benchmarks.evaluator import evaluate
from benchmarks.methods import METHODS, Budget, run_method
from benchmarks.spec import EvalConfig

BUDGET = {"dc": 12, "dsa": 12, "dm": 40, "dd": 40, "mtt": 30}  # iterations: a few seconds each on digits
MATCHING = [n for n in METHODS.names() if n in BUDGET]
MTT_SMALL = {"model": "convnet3_w32", "experts": 1, "expert_epoch_steps": 20, "syn_steps": 5}
EXTRA = {"dd": {"model": "convnet3_w32"}, "mtt": MTT_SMALL}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "dd" else n for n in MATCHING])
def test_matching_loss_decreases_and_the_images_train(name, digits, cpu):
    ds = run_method(name, digits, Budget(1, BUDGET[name]), 0, cpu, {k: v for k, v in {"batch_real": 32, **EXTRA.get(name, {})}.items()
                                                                 if k in METHODS.get(name).params})
    h = ds.meta["loss_history"]
    assert len(h) == BUDGET[name] and ds.meta["loss_every"] == 1
    k = max(2, len(h) // 4)
    assert sum(h[-k:]) / k < sum(h[:k]) / k, h  # the matching loss goes down over the iterations
    assert ds.images.shape == (10, 1, 16, 16) and 0 <= ds.images.min() and ds.images.max() <= 1
    init = run_method(name, digits, Budget(1, 1), 0, cpu, {k: v for k, v in {"batch_real": 32, **EXTRA.get(name, {})}.items()
                                                                 if k in METHODS.get(name).params})
    assert not torch.equal(ds.images, init.images)  # the images moved
    r = evaluate(ds, digits, EvalConfig(model="convnet3_w32", optimizer="adam", steps=30, batch_size=10), cpu)
    assert 0 <= r["metrics"]["test_acc"] <= 100


def test_dd_learned_learning_rates_round_trip_through_the_artifact(digits, cpu, tmp_path):
    from benchmarks.artifact import load_artifact

    ds = run_method("dd", digits, Budget(1, 5), 0, cpu, {"batch_real": 16, "inner_steps": 3, "model": "convnet3_w32"})
    assert ds.extras["step_lrs"].shape == (3,) and not torch.allclose(ds.extras["step_lrs"], torch.full((3,), 0.02))
    back = load_artifact(ds.save(tmp_path))
    assert torch.equal(back.extras["step_lrs"], ds.extras["step_lrs"])


def test_mtt_learned_lr_round_trips_and_the_evaluator_uses_it(digits, cpu, tmp_path):
    from dataclasses import replace

    from benchmarks.artifact import load_artifact

    ds = run_method("mtt", digits, Budget(1, 5), 0, cpu, MTT_SMALL)
    lr = ds.hints.lr
    assert lr > 0 and lr != 0.01 and ds.meta["learned_lr"] == pytest.approx(lr, rel=1e-4)
    assert 0 <= ds.meta["cost"]["expert_load_or_train_s"] <= ds.meta["cost"]["wall_s"]  # the experts' share
    back = load_artifact(ds.save(tmp_path))
    assert back.hints == ds.hints and back.content_hash() == ds.content_hash()
    cfg = EvalConfig(model="convnet3_w32", optimizer="sgd", steps=5, batch_size=10, lr_from_artifact=True)
    assert evaluate(back, digits, cfg, cpu)["metrics"]["lr"] == pytest.approx(lr)
    assert evaluate(back, digits, replace(cfg, lr_from_artifact=False), cpu)["metrics"]["lr"] == pytest.approx(0.05)


ITERATIVE = [n for n in METHODS.names() if "iterations" in METHODS.get(n).params]
SMALL = {**EXTRA, "ld": {"learner": "convnet3_w32", "select_every": 10, "val_size": 200},
         "ld_warm": {"learner": "convnet3_w32", "select_every": 10, "val_size": 200},
         "ld_rr": {"learner": "convnet3_w32", "select_every": 10, "val_size": 200}}


@pytest.mark.parametrize("name", ITERATIVE)
def test_a_seconds_budget_ends_the_distillation_loop_early(name, digits, cpu):
    """Every iterative method honours Budget.seconds: a cap shorter than one iteration runs exactly one."""
    params = {k: v for k, v in {"batch_real": 16, **SMALL.get(name, {})}.items() if k in METHODS.get(name).params}
    ds = run_method(name, digits, Budget(1, 50, seconds=1e-9), 0, cpu, params)
    assert ds.meta["iterations_run"] == 1 and ds.meta["budget_seconds"] == 1e-9
    assert ds.meta["cost"]["wall_s"] < 60


def test_a_seconds_budget_must_be_positive(digits, cpu):
    from benchmarks.errors import UserError

    with pytest.raises(UserError, match="seconds budget must be positive"):
        run_method("dm", digits, Budget(1, 5, seconds=0), 0, cpu)

from dataclasses import replace

import pytest
import torch

from benchmarks.artifact import DistilledSet, TrainingHints
from benchmarks.errors import UserError
from benchmarks.evaluator import evaluate
from benchmarks.methods import Budget, run_method
from benchmarks.spec import EvalConfig
from benchmarks.training import train


@pytest.mark.slow  # ConvNet-3 (width 128) for 150 steps: ~1-2 min on 2 cores
def test_full_digits_convnet3_is_accurate(digits, digits_full, cpu):
    r = evaluate(digits_full, digits, EvalConfig(model="convnet3", optimizer="adam", steps=150, batch_size=64), cpu)
    assert r["metrics"]["test_acc"] >= 95.0
    cost = r["cost"]
    assert cost["flops"] > cost["train_flops"] > 0 and cost["peak_mem_bytes"] > 0 and cost["images_per_s"] > 0


def test_same_cell_twice_gives_the_same_metrics(digits, cpu):
    ds = run_method("random", digits, Budget(5), 3, cpu)
    cfg = EvalConfig(model="convnet3_w32", optimizer="momentum", steps=40, batch_size=32, seed=7, augment="dsa")
    a, b = evaluate(ds, digits, cfg, cpu), evaluate(ds, digits, cfg, cpu)
    assert a["metrics"] == b["metrics"]
    c = evaluate(ds, digits, replace(cfg, seed=8), cpu)
    assert c["metrics"]["final_loss"] != a["metrics"]["final_loss"]


def test_lr_selection_reads_validation_only(digits, cpu):
    ds = run_method("random", digits, Budget(5), 0, cpu)
    cfg = EvalConfig(model="convnet3_w32", optimizer="adam", lr_grid=(0.1, 1.0, 10.0), steps=30, batch_size=32)
    clean = evaluate(ds, digits, cfg, cpu)
    # Scramble the test labels: if selection peeked at the test split, the chosen lr could change.
    poisoned = replace(digits, test_y=digits.test_y[torch.randperm(len(digits.test_y), generator=torch.Generator().manual_seed(1))])
    dirty = evaluate(ds, poisoned, cfg, cpu)
    assert dirty["metrics"]["lr"] == clean["metrics"]["lr"]
    assert dirty["metrics"]["lr_val_acc"] == clean["metrics"]["lr_val_acc"]
    assert dirty["metrics"]["val_acc"] == clean["metrics"]["val_acc"]
    assert len(clean["metrics"]["lr_val_acc"]) == 3
    best = max(clean["metrics"]["lr_val_acc"].items(), key=lambda kv: kv[1])
    assert float(best[0]) == pytest.approx(clean["metrics"]["lr"], rel=1e-5)


def test_soft_labels_train(digits, cpu):
    x = digits.train_x[:100]
    soft = torch.nn.functional.one_hot(digits.train_y[:100], 10).float() * 0.9 + 0.01
    ds = DistilledSet(x, soft, "soft", 10)
    r = evaluate(ds, digits, EvalConfig(model="convnet3_w32", optimizer="adam", loss="soft_ce", steps=60, batch_size=50), cpu)
    assert r["metrics"]["test_acc"] > 50


def test_mismatched_artifact_is_a_user_error(digits, cpu):
    ds = DistilledSet(torch.rand(4, 1, 28, 28), torch.arange(4), "hard", 10)
    with pytest.raises(UserError, match="artifact is for"):
        evaluate(ds, digits, EvalConfig(steps=1), cpu)


def test_bad_config_values_are_user_errors(digits, digits_full, cpu):
    for bad in (EvalConfig(steps=0), EvalConfig(precision="fp8"), EvalConfig(lr=-1.0), EvalConfig(optimizer="adma")):
        with pytest.raises(UserError):
            evaluate(digits_full, digits, bad, cpu)


def test_steps_offset_shifts_the_chosen_training_length(digits_full, digits, cpu):
    ds = DistilledSet(digits_full.images[:40], digits_full.labels[:40], "hard", 10, hints=TrainingHints(steps=12))
    cfg = EvalConfig(model="convnet3_w32", optimizer="adam", steps=50, batch_size=10, steps_from_artifact=True)
    assert evaluate(ds, digits, cfg, cpu)["metrics"]["steps"] == 12
    assert evaluate(ds, digits, replace(cfg, steps_offset=5), cpu)["metrics"]["steps"] == 17
    assert evaluate(ds, digits, replace(cfg, steps_from_artifact=False, steps_offset=-45), cpu)["metrics"]["steps"] == 5


def test_order_seed_changes_the_example_order_not_the_initialisation(digits_full, digits, cpu):
    ds = DistilledSet(digits_full.images[:40], digits_full.labels[:40], "hard", 10)
    cfg = EvalConfig(model="convnet3_w32", optimizer="adam", steps=3, batch_size=10, seed=1)
    base = train(ds, digits, cfg, 1e-3, cpu)
    same_order = train(ds, digits, replace(cfg, order_seed=1), 1e-3, cpu)
    other_order = train(ds, digits, replace(cfg, order_seed=2), 1e-3, cpu)
    first = next(iter(base.model.state_dict().values()))
    assert torch.equal(first, next(iter(same_order.model.state_dict().values())))
    assert not torch.equal(first, next(iter(other_order.model.state_dict().values())))


def test_siamese_augmentation_applies_one_transform_to_every_batch(digits):
    from benchmarks.augment import build_augmentation, siamese

    torch.manual_seed(0)
    aug = build_augmentation("dsa", 1, False)
    x = digits.train_x[:3]
    syn = x[:1].clone().requires_grad_(True)
    real_out, syn_out = siamese(aug, x, syn)
    assert torch.allclose(real_out[0], syn_out[0], atol=1e-6)  # the same image gets the same transform
    assert not torch.allclose(real_out[0], x[0])  # and it is transformed
    syn_out.sum().backward()
    assert syn.grad is not None and syn.grad.abs().sum() > 0  # differentiable in the synthetic images

"""The fast paths (stacked seeds, bf16 policy) give the records the plain path gives."""

from dataclasses import replace

import pytest
import torch

import benchmarks.metrics as metrics_mod
import benchmarks.spec as spec
import benchmarks.training as training
from benchmarks import policy
from benchmarks.evaluator import evaluate_seeds
from benchmarks.methods import Budget, run_method
from benchmarks.optim import OPTIMIZERS
from benchmarks.spec import EvalConfig
from benchmarks.training import stackable


@pytest.fixture(scope="module")
def three_sets(digits, cpu):
    return [run_method("random", digits, Budget(10), s, cpu) for s in range(3)]


@pytest.mark.parametrize(("model", "augment"), [("lenet", "dsa"), ("convnet3_w32", "none")])
def test_stacked_and_per_model_paths_agree(model, augment, three_sets, digits, cpu):
    cfgs = [EvalConfig(model=model, optimizer="adam", steps=60, batch_size=50, seed=s, precision="fp32",
                       augment=augment) for s in range(3)]
    plain = evaluate_seeds(three_sets, digits, cfgs, cpu, stacked=False)
    stacked = evaluate_seeds(three_sets, digits, cfgs, cpu, stacked=True)
    for a, b in zip(plain, stacked, strict=True):
        assert b["execution"]["stacked_models"] == 3 and a["execution"]["stacked_models"] == 1
        assert abs(a["metrics"]["test_acc"] - b["metrics"]["test_acc"]) <= 1.0  # float-rounding noise only
        assert a["metrics"]["final_loss"] == pytest.approx(b["metrics"]["final_loss"], rel=2e-2)
        assert a["cost"]["train_flops"] == b["cost"]["train_flops"]
        assert a.keys() == b.keys() and a["metrics"].keys() == b["metrics"].keys()


def test_what_can_be_stacked(digits):
    assert stackable(EvalConfig(model="convnet3", optimizer="adam"), digits)
    assert not stackable(EvalConfig(model="convnet3_bn", optimizer="adam"), digits)  # running stats
    layerwise = [n for n, e in OPTIMIZERS.items() if not e.elementwise]
    assert layerwise and not stackable(EvalConfig(model="convnet3", optimizer=layerwise[0]), digits)


def test_bf16_is_not_used_where_unsupported(monkeypatch, digits, digits_full, cpu):
    monkeypatch.setattr(spec, "bf16_supported", lambda device: False)
    assert EvalConfig(precision="auto").for_device(cpu).precision == "fp32"
    seen = []
    real = metrics_mod.autocast

    def spy(device, precision):
        seen.append(precision)
        return real(device, precision)

    monkeypatch.setattr(training, "autocast", spy)
    monkeypatch.setattr(metrics_mod, "autocast", spy)
    evaluate_seeds([digits_full], digits, [EvalConfig(model="lenet", steps=3, batch_size=8)], cpu)
    assert seen and set(seen) == {"fp32"}


def test_auto_precision_follows_the_measured_policy(monkeypatch, cpu):
    monkeypatch.setattr(spec, "bf16_supported", lambda device: True)
    monkeypatch.setitem(policy.BF16_BY_DEFAULT, "cpu", True)
    assert EvalConfig().for_device(cpu).precision == "bf16"
    monkeypatch.setitem(policy.BF16_BY_DEFAULT, "cpu", False)
    assert EvalConfig().for_device(cpu).precision == "fp32"
    assert EvalConfig(precision="fp32").for_device(cpu).precision == "fp32"


def test_record_carries_achieved_flops_and_mfu(digits, digits_full, cpu):
    r = evaluate_seeds([digits_full], digits, [EvalConfig(model="lenet", steps=20, batch_size=64)], cpu)[0]
    c = r["cost"]
    assert c["achieved_flops_per_s"] > 0 and 0 < c["mfu"] < 1.5 and c["matmul_peak_flops_per_s"] > 1e9


def test_fixed_seed_reproduces_in_both_paths(three_sets, digits, cpu):
    cfgs = [EvalConfig(model="lenet", optimizer="momentum", steps=30, batch_size=20, seed=s) for s in range(2)]
    for stacked in (False, True):
        a = evaluate_seeds(three_sets[:2], digits, cfgs, cpu, stacked=stacked)
        b = evaluate_seeds(three_sets[:2], digits, cfgs, cpu, stacked=stacked)
        assert [x["metrics"] for x in a] == [x["metrics"] for x in b]


def test_stacking_needs_cells_that_differ_only_in_seed(three_sets, digits, cpu):
    cfgs = [EvalConfig(model="lenet", steps=2, seed=0), replace(EvalConfig(model="lenet", steps=2, seed=1), lr=0.5)]
    with pytest.raises(ValueError, match="differ only in their seed"):
        training.train_group(three_sets[:2], digits, cfgs, 0.01, torch.device("cpu"), stacked=True)


@pytest.mark.parametrize(("name", "depthwise"), [("mobilenetv3_small_050", True), ("efficientnet_b0", True),
                                                 ("convnext_atto", True), ("regnetx_002", False),
                                                 ("resnet10t", False), ("convnet3", False)])
def test_depthwise_convolutions_are_found(name, depthwise):
    from benchmarks.models import build_model

    model, _ = build_model(name, 10, 1, 28)
    assert training.has_depthwise(model) is depthwise
    assert spec.resolve_channels_last(torch.device("cpu"), depthwise) is depthwise
    assert not spec.resolve_channels_last(torch.device("cuda"), depthwise)  # measured on CPUs only
    heavy = {"device": torch.device("cpu"), "images": 10**6, "flops_per_image": 1e9}
    assert spec.resolve_compile("auto", channels_last=depthwise, **heavy) is not depthwise  # eager where channels-last
    assert spec.resolve_compile(True, channels_last=depthwise, **heavy)  # an explicit compile = true is kept


def test_channels_last_path_gives_the_record_the_nchw_path_gives(monkeypatch, three_sets, digits, cpu):
    cfg = EvalConfig(model="mobilenetv3_small_050", optimizer="adam", steps=20, batch_size=50, precision="fp32")
    records = {}
    for devices in (set(), {"cpu"}):
        monkeypatch.setattr(policy, "CHANNELS_LAST_DEPTHWISE_DEVICES", devices)
        records[bool(devices)] = evaluate_seeds(three_sets[:1], digits, [cfg], cpu)[0]
    nchw, last = records[False], records[True]
    assert [nchw["execution"]["channels_last"], last["execution"]["channels_last"]] == [False, True]
    assert last["metrics"]["final_loss"] == pytest.approx(nchw["metrics"]["final_loss"], rel=2e-2)
    assert abs(last["metrics"]["test_acc"] - nchw["metrics"]["test_acc"]) <= 2.0  # float-rounding noise only
    assert last["cost"]["train_flops"] == nchw["cost"]["train_flops"]
    trained = training.train(three_sets[0], digits, cfg, 1e-3, cpu).model  # the policy is still on
    stem = trained.conv_stem(three_sets[0].images[:4])  # activations, not just weights, are channels-last
    assert stem.shape[1] > 1 and stem.is_contiguous(memory_format=torch.channels_last) and not stem.is_contiguous()

"""The robustness panel on real digits: corruptions, their cache, attacks, the panel and its bad inputs."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.models import build_model
from benchmarks.robustness import RobustnessSpec, robustness_panel
from benchmarks.robustness.attacks import (
    ATTACKS,
    NormalizedModel,
    adversarial_accuracy,
    adversarial_examples,
    attack_subset,
    clean_accuracy,
)
from benchmarks.robustness.cache import cache_fields, cache_path, corrupted_test_set
from benchmarks.robustness.corruptions import FAMILIES, corrupt, family_for

MNIST_C = FAMILIES.get("mnist_c")
N_IMAGES = 64  # corruption checks run on the first 64 digits test images


def _train(data: RealData, name: str, steps: int, **overrides: object) -> nn.Module:
    """A briefly trained model (Adam, batch 64) on the digits train split."""
    torch.manual_seed(0)
    model, _ = build_model(name, data.num_classes, data.channels, data.size, **overrides)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, len(data.train_y), (64,), generator=gen)
        loss = nn.functional.cross_entropy(model(data.normalize(data.train_x[idx])), data.train_y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained(digits: RealData) -> nn.Module:
    return _train(digits, "convnet3_w32", 300)


def test_mnist_c_has_the_papers_fifteen_corruptions():
    assert set(MNIST_C.default_corruptions) == {
        "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate", "brightness",
        "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag", "canny_edges"}
    assert MNIST_C.corruptions.get("shot_noise").default_severities == (5,)
    assert MNIST_C.corruptions.get("stripe").max_severity == 1


@pytest.mark.parametrize("name", MNIST_C.default_corruptions)
def test_each_corruption_is_deterministic_in_range_and_changes_images(name, digits):
    x = digits.test_x[:N_IMAGES]
    severity = MNIST_C.corruptions.get(name).default_severities[0]
    a = corrupt(x, MNIST_C, name, severity, seed=3)
    assert torch.equal(a, corrupt(x, MNIST_C, name, severity, seed=3))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= 0 and a.max() <= 1
    assert (a - x).abs().amax(dim=(1, 2, 3)).gt(1e-3).float().mean() > 0.9  # nearly every image changes
    assert torch.equal(corrupt(x, MNIST_C, name, 0, seed=3), x)  # severity 0 is the identity


def test_random_corruptions_depend_on_the_seed(digits):
    x = digits.test_x[:N_IMAGES]
    for name in ("shot_noise", "impulse_noise", "rotate", "fog", "zigzag"):
        assert not torch.equal(corrupt(x, MNIST_C, name, 1, seed=0), corrupt(x, MNIST_C, name, 1, seed=1))


def test_mnist_c_works_at_mnist_size():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 8:20, 12:16] = 1.0  # a bar, like a "1"
    for name in MNIST_C.default_corruptions:
        out = corrupt(x, MNIST_C, name, MNIST_C.corruptions.get(name).default_severities[0], seed=0)
        assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1 and not torch.equal(out, x), name


def test_corrupted_test_set_is_cached_and_a_damaged_file_rebuilt(digits):
    small = replace(digits, test_x=digits.test_x[:N_IMAGES], test_y=digits.test_y[:N_IMAGES])
    first = corrupted_test_set(small, MNIST_C, "shot_noise", 5, seed=0)
    path = cache_path(cache_fields(small, MNIST_C, "shot_noise", 5, 0))
    assert path.exists() and first.shape == small.test_x.shape
    assert torch.equal(corrupted_test_set(small, MNIST_C, "shot_noise", 5, seed=0), first)
    raw = bytearray(path.read_bytes())
    raw[-10:] = bytes(255 - b for b in raw[-10:])  # flip pixels: the checksum no longer matches
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="rebuilding"):
        again = corrupted_test_set(small, MNIST_C, "shot_noise", 5, seed=0)
    assert torch.equal(again, first)
    path.write_bytes(b"not a safetensors file")
    with pytest.warns(UserWarning, match="rebuilding"):
        assert torch.equal(corrupted_test_set(small, MNIST_C, "shot_noise", 5, seed=0), first)
    assert corrupted_test_set(small, MNIST_C, "shot_noise", 0, seed=0) is small.test_x


@pytest.mark.parametrize("attack", [a for a in ATTACKS.names() if a != "autoattack"])  # AutoAttack: minutes
def test_attacks_at_epsilon_zero_give_the_clean_accuracy_exactly(attack, digits, trained, cpu):
    wrapped = NormalizedModel(trained, digits.normalize)
    x, y = attack_subset(digits.test_x, digits.test_y, 200, seed=0)
    clean = clean_accuracy(wrapped, x, y, cpu)
    assert adversarial_accuracy(wrapped, attack, x, y, 0.0, 10, 10, 0, cpu) == clean
    adv = adversarial_examples(wrapped, attack, x, y, 0.1, 10, 10, 0, cpu)
    assert adv.shape == x.shape and float((adv - x).abs().max()) <= 0.1 + 1e-6 and 0 <= float(adv.min())
    assert float(adv.max()) <= 1 and not torch.equal(adv, x)
    assert torch.equal(adversarial_examples(wrapped, attack, x, y, 0.1, 10, 10, 0, cpu), adv)  # seeded


def test_pgd_is_stronger_than_fgsm_which_hurts_a_trained_model(digits, trained, cpu):
    spec = RobustnessSpec(corruptions=("shot_noise", "stripe"), subset=200, epsilons=(0.05, 0.1))
    out = robustness_panel(trained, digits, spec, cpu, "fp32")
    assert out["clean_acc"] > 85 and out["attack_subset"] == 200 and out["seed"] == 0
    for e in ("0.05", "0.1"):
        assert out["attack_acc"]["pgd"][e] <= out["attack_acc"]["fgsm"][e] <= out["attack_clean_acc"]
    assert out["attack_acc"]["pgd"]["0.1"] < out["attack_clean_acc"] - 10
    assert set(out["corruption_acc"]) == {"shot_noise", "stripe"}
    assert out["mean_corruption_acc"] == pytest.approx(sum(out["corruption_acc"].values()) / 2, abs=1e-4)
    assert out["corruption_acc"]["stripe"] < out["clean_acc"]
    assert robustness_panel(trained, digits, spec, cpu, "fp32")["attack_acc"] == out["attack_acc"]  # seeded


def test_the_panel_leaves_batchnorm_statistics_and_the_mode_alone(digits, cpu):
    model = _train(digits, "convnet3_bn", 20, width=16).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    spec = RobustnessSpec(corruptions=("rotate",), subset=64, epsilons=(0.1,))
    robustness_panel(model, digits, spec, cpu, "bf16")
    assert model.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_defaults_follow_the_dataset_family(digits):
    resolved = RobustnessSpec().resolved(digits)
    assert family_for(digits).name == "mnist_c" and resolved["family"] == "mnist_c"
    assert resolved["epsilons"] == [0.1, 0.3] and len(resolved["corruptions"]) == 15
    assert resolved["severities"]["fog"] == [5] and resolved["severities"]["glass_blur"] == [1]
    assert FAMILIES.get("cifar_c").default_epsilons == (2 / 255, 4 / 255, 8 / 255)


@pytest.mark.parametrize("bad, message", [
    (dict(corruptions=("shot_nose",)), "unknown corruption 'shot_nose'"),
    (dict(attacks=("pgd", "cw")), "unknown attack 'cw'"),
    (dict(epsilons=(0.1, 1.5)), "outside \\[0, 1\\]"),
    (dict(epsilons=(-0.01,)), "outside \\[0, 1\\]"),
    (dict(corruptions=("stripe",), severities=(2,)), "outside stripe's range 0..1"),
    (dict(severities=(6,)), "range 0..5"),
    (dict(corruptions=("snow",)), "unknown corruption 'snow'"),  # a colour corruption on grey digits
    (dict(subset=0), "subset must be a positive integer"),
    (dict(corruptions="all"), "must be a list"),
])
def test_bad_specs_are_one_line_user_errors(bad, message, digits, cpu):
    spec = RobustnessSpec(**bad)
    with pytest.raises(UserError, match=message):
        spec.check(digits)
    with pytest.raises(UserError, match=message):
        robustness_panel(nn.Identity(), digits, spec, cpu, "fp32")


def test_from_dict_reads_a_suite_table_and_refuses_unknown_keys():
    spec = RobustnessSpec.from_dict({"corruptions": ["fog"], "epsilons": [0.1], "subset": 500})
    assert spec.corruptions == ("fog",) and spec.epsilons == (0.1,) and spec.subset == 500
    with pytest.raises(UserError, match="unknown robustness setting"):
        RobustnessSpec.from_dict({"epsilon": [0.1]})
    with pytest.raises(UserError, match="outside"):
        RobustnessSpec.from_dict({"severities": [9]})


def test_colour_corruptions_through_imagecorruptions(digits):
    pytest.importorskip("imagecorruptions")
    cifar_c = FAMILIES.get("cifar_c")
    grey = torch.nn.functional.interpolate(digits.test_x[:4], size=(32, 32), mode="bilinear").clamp(0, 1)
    x = torch.cat([grey, grey.flip(-1), 1 - grey], dim=1)  # real digits as 32x32 colour images
    for name in cifar_c.corruptions.names():
        for severity in (1, 5):
            a = corrupt(x, cifar_c, name, severity, seed=2)
            assert torch.equal(a, corrupt(x, cifar_c, name, severity, seed=2)), name
            assert a.shape == x.shape and 0 <= a.min() and a.max() <= 1 and not torch.equal(a, x), name
    assert torch.equal(corrupt(x, cifar_c, "fog", 0, seed=2), x)
    with pytest.raises(UserError, match="at least 32x32"):
        corrupt(x[..., :16, :16], cifar_c, "fog", 1, seed=0)


def test_severities_are_checked_per_corruption_once_the_dataset_is_known(digits):
    spec = RobustnessSpec(severities=(1, 2, 3, 4, 5))
    spec.check()  # fine for a colour dataset's CIFAR-10-C corruptions
    with pytest.raises(UserError, match="outside stripe's range 0..1"):
        spec.check(digits)  # MNIST-C's stripe has a single level
    RobustnessSpec(corruptions=("fog", "rotate"), severities=(0, 1, 5)).check(digits)


def test_autoattack_runs_through_the_wrapper_and_is_no_weaker_than_pgd(digits, trained, cpu):
    spec = RobustnessSpec(corruptions=(), attacks=("pgd", "autoattack"), epsilons=(0.3,), subset=16)
    out = robustness_panel(trained, digits, spec, cpu, "fp32")
    assert out["attack_acc"]["autoattack"]["0.3"] <= out["attack_acc"]["pgd"]["0.3"] < out["attack_clean_acc"]
    assert out["corruption_acc"] == {} and out["mean_corruption_acc"] is None


def test_a_suite_that_asks_for_the_panel_gets_it_in_every_record(tmp_path, cpu):
    from benchmarks.driver import run_suite
    from benchmarks.store import Store
    from benchmarks.suite import parse_suite

    doc = {"grid": {"datasets": ["digits"], "methods": ["random", "full"], "ipc": [2], "models": ["convnet3_w32"],
                    "optimizers": ["adam"]},
           "eval": {"steps": 20, "batch_size": 20,
                    "robustness": {"corruptions": ["shot_noise", "rotate"], "subset": 40, "pgd_steps": 3}}}
    assert run_suite(parse_suite(doc), tmp_path, cpu, progress=False)["ok"] == 2
    (record,) = [r for r in Store(tmp_path).records() if r["config"]["method"] == "random"]
    panel = record["metrics"]["robustness"]
    assert set(panel["corruption_acc"]) == {"shot_noise", "rotate"} and panel["attack_subset"] == 40
    summary = panel["summary"]
    assert summary["clean_acc"] == pytest.approx(record["metrics"]["test_acc"], abs=1e-3)  # the same model and test set
    assert summary["pgd@0.3"] <= summary["fgsm@0.3"] + 1e-9 and "robustness" in record["cost"]
    doc["eval"]["robustness"] = {"attacks": ["pgdd"]}
    with pytest.raises(UserError, match="pgd"):
        parse_suite(doc)
    doc["grid"]["methods"] = ["random"]
    doc["eval"]["robustness"] = {}
    with pytest.raises(UserError, match="no reference row"):
        parse_suite(doc)

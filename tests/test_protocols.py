"""The published-protocol presets: each one the paper's evaluation recipe, field by field, and runnable."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from benchmarks.artifact import DistilledSet, TrainingHints
from benchmarks.augment import build_augmentation
from benchmarks.errors import UserError
from benchmarks.evaluator import apply_hints, evaluate
from benchmarks.migrate import upgrade
from benchmarks.optim import OPTIMIZERS, build_optimizer, build_schedule, state_resets
from benchmarks.protocols import PROTOCOLS, eval_fields, expand, steps_for
from benchmarks.spec import RECORD_SCHEMA, EvalConfig, cell_key, validate_record
from benchmarks.suite import load_suite, parse_suite
from benchmarks.training import _run_steps

# The papers' evaluation recipes, written out from their code (research note s. 2):
# DatasetCondensation utils.py evaluate_synset (SGD momentum 0.9, wd 5e-4, lr_net 0.01, batch_train 256, CE,
# `for ep in range(Epoch+1)`, lr *= 0.1 with a new optimizer at ep == Epoch//2+1); main.py / main_DM.py
# (epoch_eval_train 1000 with DSA or DC-aug, else 300; get_daparam: crop_scale_rotate on MNIST for DC;
# --num_exp 5, DC --num_eval 20, DSA/DM --num_eval 5); mtt-distillation distill.py (lr_net = learned syn_lr, DSA,
# num_eval 5 on the one distilled set).
PAPERS = {
    "dc": {"optimizer": "momentum", "momentum": 0.9, "lr": 0.01, "weight_decay": 5e-4, "weight_decay_all": True, "batch_size": 256,
           "loss": "ce", "epochs_plain": 300, "epochs_augmented": 1000, "extra_epoch": True, "schedule": "dc_step",
           "lr_decay": 0.1, "augment": "crop_scale_rotate", "augment_datasets": ("mnist",), "normalize": "dataset",
           "distilled_sets": 5, "models_per_set": 20, "test": "final"},
    "dsa": {"optimizer": "momentum", "momentum": 0.9, "lr": 0.01, "weight_decay": 5e-4, "weight_decay_all": True, "batch_size": 256,
            "loss": "ce", "epochs_plain": 300, "epochs_augmented": 1000, "extra_epoch": True, "schedule": "dc_step",
            "lr_decay": 0.1, "augment": "dsa_paper", "augment_datasets": None, "normalize": "dataset",
            "distilled_sets": 5, "models_per_set": 5, "test": "final"},
    "dm": {"optimizer": "momentum", "momentum": 0.9, "lr": 0.01, "weight_decay": 5e-4, "weight_decay_all": True, "batch_size": 256,
           "loss": "ce", "epochs_plain": 300, "epochs_augmented": 1000, "extra_epoch": True, "schedule": "dc_step",
           "lr_decay": 0.1, "augment": "dsa_paper", "augment_datasets": None, "normalize": "dataset",
           "distilled_sets": 5, "models_per_set": 5, "test": "final"},
    "mtt": {"optimizer": "momentum", "momentum": 0.9, "lr": None, "weight_decay": 5e-4, "weight_decay_all": True, "batch_size": 256,
            "loss": "ce", "epochs_plain": 300, "epochs_augmented": 1000, "extra_epoch": True, "schedule": "dc_step",
            "lr_decay": 0.1, "augment": "dsa_paper", "augment_datasets": None, "normalize": "dataset",
            "distilled_sets": 1, "models_per_set": 5, "test": "final"},
}


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_each_preset_is_the_papers_recipe_field_by_field(name):
    p = PROTOCOLS.get(name)
    for field_name, value in PAPERS[name].items():
        assert getattr(p, field_name) == value, f"{name}.{field_name}"
    assert OPTIMIZERS.get(p.optimizer).kwargs == {"momentum": p.momentum}  # plain SGD with that momentum


def test_the_registry_holds_exactly_the_four_papers():
    assert sorted(PROTOCOLS.names()) == sorted(PAPERS)


def test_dc_augments_mnist_only_and_trains_longer_there():
    assert eval_fields("dc", "mnist")["augment"] == "crop_scale_rotate" and eval_fields("dc", "mnist")["epochs"] == 1001
    assert eval_fields("dc", "cifar10")["augment"] == "none" and eval_fields("dc", "cifar10")["epochs"] == 301
    assert {eval_fields(n, "mnist")["epochs"] for n in ("dsa", "dm", "mtt")} == {1001}
    assert eval_fields("mtt", "mnist")["lr_from_artifact"] and not eval_fields("dsa", "mnist")["lr_from_artifact"]


def test_epochs_become_steps_from_the_set_size():
    assert steps_for(301, 100, 256) == 301  # ipc 10 on MNIST: one batch per epoch
    assert steps_for(1001, 500, 256) == 2002  # ipc 50: a full and a partial batch per epoch
    ds = DistilledSet(torch.rand(100, 1, 28, 28), torch.arange(100) % 10, "hard", 10)
    cfg = replace(EvalConfig(), **eval_fields("dc", "cifar10"))
    assert apply_hints(cfg, ds).steps == 301


def test_dc_step_decays_after_epoch_half_plus_one_and_resets_momentum():
    opt = build_optimizer(torch.nn.Linear(2, 2), "momentum", 0.01, 5e-4)
    sched = build_schedule(opt, "dc_step", 602, 301)  # 301 epochs of 2 steps
    lrs = {}
    for t in (303, 304, 602):
        sched.step_update(t)
        lrs[t] = opt.param_groups[0]["lr"]
    assert lrs[303] == pytest.approx(0.01) and lrs[304] == pytest.approx(0.001) and lrs[602] == pytest.approx(0.001)
    assert state_resets("dc_step", 602, 301) == {304} and state_resets("step", 602, 301) == frozenset()


def test_the_loop_starts_a_fresh_momentum_after_a_reset():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = build_optimizer(model, "momentum", 0.1, 0.0)
    x = torch.randn(8, 3)
    grads = []

    def step(i: int) -> torch.Tensor:
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        grads.append(model.weight.grad.clone())
        return loss.detach().unsqueeze(0)

    _run_steps(step, opt, None, 3, torch.device("cpu"), resets=frozenset({2}))
    buf = opt.state[model.weight]["momentum_buffer"]
    assert torch.allclose(buf, grads[2])  # a fresh buffer: only the third step's gradient, no carried momentum
    assert not torch.allclose(grads[2], grads[1])


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_a_tiny_evaluation_runs_with_each_preset(name, digits, cpu):
    ds = DistilledSet(digits.train_x[:50], digits.train_y[:50], "hard", 10, hints=TrainingHints(lr=0.02))
    cfg = replace(EvalConfig(model="convnet3_w32"), **{**eval_fields(name, "mnist"), "epochs": 3})
    r = evaluate(ds, digits, cfg, cpu)
    assert r["metrics"]["steps"] == 3 and 0 <= r["metrics"]["test_acc"] <= 100
    assert r["metrics"]["lr"] == pytest.approx(0.02 if name == "mtt" else 0.01)


@pytest.mark.parametrize("name", ["crop_scale_rotate", "crop_noise", "dsa_paper"])
def test_paper_augmentations_are_seeded_and_change_images(name):
    aug = build_augmentation(name, 1, False, (0.1307,), (0.3081,))
    x = torch.rand(16, 1, 28, 28)
    torch.manual_seed(3)
    a = aug(x)
    torch.manual_seed(3)
    b = aug(x)
    torch.manual_seed(4)
    c = aug(x)
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, x) and a.shape == x.shape


def test_dc_aug_keeps_images_in_the_unit_range():
    aug = build_augmentation("crop_scale_rotate", 1, False, (0.1307,), (0.3081,))
    x = torch.cat([torch.zeros(8, 1, 28, 28), torch.ones(8, 1, 28, 28), torch.rand(16, 1, 28, 28)])
    for seed in range(5):
        torch.manual_seed(seed)
        out = aug(x)
        assert out.min() >= 0 and out.max() <= 1


def test_dc_aug_shifts_by_at_most_four_pixels_and_pads_with_the_mean():
    from benchmarks.augment_paper import dc_crop

    z = torch.zeros(64, 1, 28, 28)
    z[:, :, 10:18, 10:18] = 1.0
    fill = z.mean(dim=(0, 2, 3), keepdim=True)
    torch.manual_seed(0)
    out = dc_crop(z, fill)
    mass_rows = (out == 1).any(dim=3).squeeze(1).float().argmax(dim=1)  # first row of the square
    assert ((mass_rows - 10).abs() <= 4).all() and len(set(mass_rows.tolist())) > 1
    padded = out[(out != 0) & (out != 1)]
    assert torch.allclose(padded, fill.flatten().expand_as(padded))


def test_a_suite_expands_its_protocol_and_lets_a_method_train_fewer_epochs():
    doc = {"grid": {"datasets": ["mnist"], "methods": ["random", "full"], "models": ["convnet3"],
                    "optimizers": ["momentum"], "ipc": [10]},
           "sweep": {"protocol": ["dc", "dsa"]}, "method_eval": {"full": {"epochs": 2}}}
    cells = parse_suite(doc).cells()
    by = {(c.method, c.eval.protocol): c.eval for c in cells}
    assert by[("random", "dc")].augment == "crop_scale_rotate" and by[("random", "dc")].epochs == 1001
    assert by[("random", "dsa")].augment == "dsa_paper" and by[("random", "dsa")].schedule == "dc_step"
    assert by[("full", "dc")].epochs == 2 and by[("full", "dc")].augment == "crop_scale_rotate"


@pytest.mark.parametrize(("change", "message"), [
    ({"eval": {"protocol": "dcc"}}, "did you mean 'dc'"),
    ({"method_eval": {"herding": {"epochs": 2}}}, "not in the grid's methods"),
    ({"method_eval": {"random": {"epoch": 2}}}, "did you mean 'epochs'"),
    ({"eval": {"protocol": "dc", "epochs": 0}}, "epochs must be a positive"),
    ({"eval": {"protocol": "dc"}, "grid": {"optimizers": ["momentum", "adam"]}}, "protocol fixes the optimizer"),
])
def test_bad_protocol_settings_fail_before_running(change, message):
    doc = {"grid": {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["momentum"]}}
    doc = {**doc, **{k: ({**doc.get(k, {}), **v}) for k, v in change.items()}}
    with pytest.raises(UserError, match=message):
        parse_suite(doc)


def test_the_protocols_suite_runs_each_distinct_recipe_for_each_method():
    s = load_suite("protocols-mnist")
    cells = s.cells()
    assert {c.eval.protocol for c in cells} == {"dc", "dsa"} and {c.method for c in cells} == {"random", "herding", "full"}
    assert {c.distill_seed for c in cells} == set(range(5))
    assert all(c.eval.epochs == eval_fields(c.eval.protocol, "mnist")["epochs"] for c in cells if c.method != "full")


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_dm_and_mtt_evaluate_a_set_without_a_learned_lr_with_dsas_recipe(dataset):
    """Why protocols-mnist runs dsa for dm and mtt too: their expanded settings agree with dsa's except the
    preset's name, and mtt only in reading the lr from the artifact, which random/herding/full do not carry."""
    dsa = {k: v for k, v in eval_fields("dsa", dataset).items() if k != "protocol"}
    dm = {k: v for k, v in eval_fields("dm", dataset).items() if k != "protocol"}
    assert dm == dsa
    mtt = {k: v for k, v in eval_fields("mtt", dataset).items() if k != "protocol"}
    assert {k for k in dsa if mtt[k] != dsa[k]} == {"lr", "lr_from_artifact"}
    plain = DistilledSet(torch.rand(2, 1, 8, 8), torch.tensor([0, 1]), "hard", 2)
    assert apply_hints(EvalConfig(**mtt), plain).base_lr() == apply_hints(EvalConfig(**dsa), plain).base_lr() == 0.01


def test_a_schema_2_record_upgrades_to_the_current_schema():
    config = {"dataset": "digits", "method": "random", "params": {}, "ipc": 1, "iterations": None, "seconds": None,
              "seed": 0, "eval": {k: v for k, v in EvalConfig().resolved().items() if k not in ("epochs", "weight_decay_all", "protocol")}}
    old = {"key": cell_key(config), "schema": 2, "suite": "s", "config": config, "status": "ok",
           "metrics": {"test_acc": 50.0, "val_acc": 50.0}, "cost": {}, "execution": {}, "provenance": {}}
    new = upgrade(old, {})
    assert new["schema"] == RECORD_SCHEMA and validate_record(new) == []
    assert new["config"]["eval"] == EvalConfig().resolved() and new["key"] != old["key"]


def test_a_command_line_protocol_fills_the_fields_left_at_their_defaults():
    cfg = expand(EvalConfig(protocol="dsa", model="convnet3_w32", epochs=5), "mnist")
    assert (cfg.epochs, cfg.model, cfg.augment, cfg.schedule, cfg.lr) == (5, "convnet3_w32", "dsa_paper", "dc_step", 0.01)
    assert expand(EvalConfig(), "mnist") == EvalConfig()


@pytest.mark.parametrize("decay_all", [False, True])
def test_the_papers_decay_biases_and_norms_too(digits, cpu, decay_all):
    from benchmarks.training import _Single

    ds = DistilledSet(digits.train_x[:20], digits.train_y[:20], "hard", 10)
    kernel = _Single([ds], digits, [EvalConfig(model="convnet3_w32", steps=1)], cpu)
    opt = build_optimizer(kernel.optimizer_target(5e-4, decay_all), "momentum", 0.01, 5e-4)
    decayed = sum(p.numel() for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"])
    total = sum(p.numel() for p in kernel.s.model.parameters())
    assert (decayed == total) == decay_all and decayed > 0

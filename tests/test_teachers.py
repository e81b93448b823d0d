"""Teachers and online labels on real digits: cache hits, class checks, relabelling what the student sees."""

from dataclasses import replace

import pytest
import torch

import benchmarks.teachers as teachers
import benchmarks.training as training
from benchmarks.errors import UserError
from benchmarks.evaluator import evaluate
from benchmarks.methods import METHODS, Budget, run_method
from benchmarks.spec import EvalConfig
from benchmarks.teachers import TeacherConfig, get_teacher, label_cost, list_teachers

CFG = TeacherConfig("digits", "convnet3_w32", seed=0, epochs=1)


def test_teacher_is_cached_and_never_retrained(digits, cpu, monkeypatch):
    first = get_teacher(CFG, cpu, data=digits)
    assert first.record["val_acc"] > 30 and first.classes == list(digits.classes)

    def no_training(*_a, **_k):
        raise AssertionError("a cached teacher was retrained")

    monkeypatch.setattr(teachers, "_train", no_training)
    second = get_teacher(CFG, cpu, data=digits)
    x = digits.normalize(digits.val_x[:8])
    assert torch.equal(first.logits(x), second.logits(x))
    assert any(r["key"] == CFG.key for r in list_teachers())


def test_a_teacher_for_other_classes_is_refused(digits, cpu):
    teacher = get_teacher(CFG, cpu, data=digits)
    other = replace(digits, name="letters", classes=tuple("abcdefghij"))
    with pytest.raises(UserError, match="trained on classes"):
        teacher.check_classes(other)


def test_online_relabelling_labels_the_augmented_batch_the_student_sees(digits, cpu, monkeypatch):
    ds = run_method("rded", digits, Budget(2), 0, cpu, {"teacher_model": CFG.model, "teacher_epochs": CFG.epochs,
                                                        "candidates": 10, "crops": 2})
    assert ds.label_kind == "online" and ds.teacher == CFG.key
    seen_by_teacher, seen_by_student = [], []
    real_logits = teachers.Teacher.logits

    def spy_logits(self, x):
        seen_by_teacher.append(x.clone())
        return real_logits(self, x)

    real_build = training.build_model

    def spy_build(*args, **kwargs):
        model, adaptation = real_build(*args, **kwargs)
        model.register_forward_pre_hook(lambda _m, inp: seen_by_student.append(inp[0].clone()) if _m.training else None)
        return model, adaptation

    monkeypatch.setattr(teachers.Teacher, "logits", spy_logits)
    monkeypatch.setattr(training, "build_model", spy_build)
    cfg = EvalConfig(model="lenet", optimizer="adam", loss="gift", augment="crop_flip", steps=4, batch_size=10,
                     precision="fp32")
    r = evaluate(ds, digits, cfg, cpu)
    assert 0 <= r["metrics"]["test_acc"] <= 100
    train_inputs = seen_by_student[-4:]  # the last 4 training forwards (the first is the FLOP probe)
    assert len(seen_by_teacher) >= 4
    for t_in, s_in in zip(seen_by_teacher[-4:], train_inputs, strict=True):
        assert torch.equal(t_in, s_in)  # same tensor: the teacher labels exactly what the student sees
    plain = digits.normalize(ds.images)
    assert not any(torch.equal(t_in, plain[: len(t_in)]) for t_in in seen_by_teacher)  # it is augmented


def test_label_cost_counts_the_teacher_for_online_labels(digits, cpu):
    teacher = get_teacher(CFG, cpu, data=digits)
    stored = label_cost("soft", 400, None, 10)
    online = label_cost("online", 80, teacher.key, 10)
    assert stored == {"label_storage_bytes": 400, "teacher_flops_per_step": 0}
    assert online["label_storage_bytes"] == 80 + teacher.param_bytes
    assert online["teacher_flops_per_step"] == 10 * teacher.record["forward_flops_per_image"] > 0


TEACHER_METHODS = [n for n, e in METHODS.items() if "teacher_model" in e.params]


def test_rded_static_has_rdeds_images_with_the_teachers_softmax_as_static_labels(digits, cpu):
    params = {"teacher_model": CFG.model, "teacher_epochs": CFG.epochs, "candidates": 12, "crops": 2}
    online = run_method("rded", digits, Budget(2), 0, cpu, params)
    static = run_method("rded_static", digits, Budget(2), 0, cpu, params)
    assert torch.equal(online.images, static.images) and static.label_kind == "soft"
    teacher = get_teacher(CFG, cpu)
    torch.testing.assert_close(static.labels, torch.softmax(teacher.logits(digits.normalize(static.images)), 1))
    assert static.meta["mean_kept_ce"] == online.meta["mean_kept_ce"] and static.teacher == online.teacher


def test_random_online_has_soft_randoms_images_with_online_labels(digits, cpu):
    params = {"teacher_model": CFG.model, "teacher_epochs": CFG.epochs}
    static = run_method("soft_random", digits, Budget(2), 0, cpu, params)
    online = run_method("random_online", digits, Budget(2), 0, cpu, params)
    assert torch.equal(static.images, online.images) and online.label_kind == "online" and online.teacher == CFG.key
    assert online.meta["train_indices"] == static.meta["train_indices"]
    assert torch.equal(online.labels, digits.train_y[torch.tensor(online.meta["train_indices"])])  # true classes


@pytest.mark.parametrize("method", TEACHER_METHODS)
def test_every_soft_label_record_carries_its_teachers_strength(tmp_path, cpu, method):
    from benchmarks.driver import run_suite
    from benchmarks.store import Store
    from benchmarks.suite import parse_suite

    doc = {"grid": {"datasets": ["digits"], "methods": [method, "random"], "ipc": [1], "models": ["convnet3_w32"],
                    "optimizers": ["adam"], "losses": ["soft_ce"]}, "eval": {"steps": 2, "batch_size": 10},
           "methods": {method: {"teacher_model": "convnet3_w32", "teacher_epochs": 1}}}
    assert run_suite(parse_suite(doc), tmp_path, cpu, progress=False)["ok"] == 2
    by = {r["config"]["method"]: r for r in Store(tmp_path).records()}
    teacher = get_teacher(CFG, cpu)
    assert by[method]["artifact"]["teacher"] == {"key": CFG.key, "model": "convnet3_w32", "epochs": 1,
                                                 "val_acc": teacher.record["val_acc"]}
    assert "teacher" not in by["random"]["artifact"]


def test_a_plateau_teacher_drops_its_lr_at_each_plateau_stops_at_the_last_and_keeps_the_best(digits, cpu):
    from benchmarks.metrics import val_subset

    cfg = TeacherConfig("digits", "lenet", seed=0, epochs=40, lr=3e-2, patience=1)
    teacher = get_teacher(cfg, cpu, data=digits)
    rec = teacher.record
    history, kept = rec["val_acc_per_epoch"], rec["epochs_kept"]
    assert rec["epochs_trained"] == len(history) <= cfg.epochs
    assert rec["val_acc"] == history[kept - 1] == max(history)
    assert history.index(max(history)) == kept - 1  # the first epoch to reach the best is the one kept
    assert len(history) < cfg.epochs, "digits plateaus well before 40 epochs"
    # Each plateau is more than `patience` epochs without a new best; the run ends at the PLATEAU_DROPS-th.
    plateaus, bad, best = 0, 0, -1.0
    for acc in history:
        bad = 0 if acc > best else bad + 1
        best = max(best, acc)
        if bad > cfg.patience:
            plateaus, bad = plateaus + 1, 0
    assert plateaus == teachers.PLATEAU_DROPS
    vx, vy = val_subset(digits, teachers.TEACHER_VAL_SUBSET)
    assert round(teachers.accuracy(teacher.model, digits, vx, vy, cpu, "fp32"), 4) == rec["val_acc"]  # best weights


def test_fixed_epoch_teachers_keep_their_keys_and_plateau_is_the_methods_default(digits, cpu):
    from dataclasses import asdict

    from benchmarks.spec import stable_hash

    legacy = {k: v for k, v in asdict(CFG).items() if k != "patience"}
    assert CFG.key == stable_hash(legacy)  # cached teachers and the artifacts naming them stay valid
    assert TeacherConfig.plateau("digits", "lenet", 0).key != TeacherConfig("digits", "lenet", 0, 30).key
    for method in TEACHER_METHODS:
        assert METHODS.get(method).params["teacher_epochs"] == 0
    with pytest.raises(UserError, match="patience"):
        TeacherConfig("digits", "lenet", patience=-1).check()

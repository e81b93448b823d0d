"""The fair per-architecture protocol on real digits: the lr is chosen on validation only, once per dataset,
architecture and ipc (cached, shared by every set), and every record says what was chosen from what."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

import benchmarks.training as training
from benchmarks.errors import UserError
from benchmarks.evaluator import evaluate
from benchmarks.methods import Budget, run_method
from benchmarks.spec import EvalConfig
from benchmarks.tuning import choose_lr, choose_steps, lengthen

SMOKE_HERDING = {"feature_model": "convnet3_w32", "feature_steps": 5}
CFG = EvalConfig(model="convnet3_w32", optimizer="adam", steps=15, batch_size=20, val_size=200,
                 lr_per_architecture=True, lr_grid=(0.1, 1.0, 10.0))


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "cache"))


def test_the_choice_reads_validation_only(digits, cpu, monkeypatch, tmp_path):
    ds = run_method("herding", digits, Budget(2), 0, cpu, SMOKE_HERDING)
    choice = choose_lr(CFG, ds, digits, cpu)
    assert {"0.0001", "0.001", "0.01"} <= set(choice["val_acc"]) and choice["reference"] == "random seed 0"
    assert choice["val_acc"][f"{choice['lr']:.6g}"] == max(choice["val_acc"].values())
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "other"))
    blind = replace(digits, test_x=torch.full_like(digits.test_x, float("nan")), test_y=torch.zeros_like(digits.test_y))
    assert choose_lr(CFG, ds, blind, cpu) == choice  # the same choice without a usable test split


def test_one_choice_per_architecture_and_ipc_shared_by_every_set(digits, cpu, monkeypatch):
    first = choose_lr(CFG, run_method("random", digits, Budget(2), 1, cpu), digits, cpu)
    herding = run_method("herding", digits, Budget(2), 0, cpu, SMOKE_HERDING)  # (herding trains its embedder)
    monkeypatch.setattr(training, "train_group", lambda *a, **k: pytest.fail("trained again"))
    assert choose_lr(CFG, herding, digits, cpu) == first  # cached, and the same for another method's set
    assert choose_lr(replace(CFG, seed=4, lr_grid=CFG.lr_grid), run_method("random", digits, Budget(2), 2, cpu),
                     digits, cpu) == first  # the evaluation seed is not part of the recipe
    assert choose_lr(replace(CFG, loss="gift"), herding, digits, cpu) == first  # nor the loss: true labels, CE
    monkeypatch.undo()
    other = choose_lr(replace(CFG, model="lenet"), run_method("random", digits, Budget(2), 1, cpu), digits, cpu)
    assert other["key"] != first["key"]


def test_a_record_trains_at_the_chosen_lr_and_carries_the_choice(digits, cpu):
    ds = run_method("random", digits, Budget(2), 0, cpu)
    result = evaluate(ds, digits, CFG, cpu)
    tuning = result["metrics"]["lr_tuning"]
    assert result["metrics"]["lr"] == tuning["lr"] and list(result["metrics"]["lr_val_acc"]) == [f"{tuning['lr']:.6g}"]


@pytest.mark.parametrize("multipliers", [(0.03, 0.1), (0.1, 1.0, 10.0)])
def test_a_best_lr_on_the_grids_edge_extends_the_grid_at_its_ratio(digits, cpu, multipliers):
    from benchmarks.tuning import search

    cfg = replace(CFG, lr_grid=multipliers)
    choice = choose_lr(cfg, run_method("random", digits, Budget(2), 0, cpu), digits, cpu)
    asked: set[str] = set()  # the rule (tested on its own below), replayed on the recorded accuracies

    def recorded(lr: float) -> float:
        asked.add(f"{lr:.6g}")
        return choice["val_acc"][f"{lr:.6g}"]

    best = search(choice["grid"], recorded)
    assert asked == set(choice["val_acc"]) and choice["lr"] == best
    if len(multipliers) == 2:  # a two-point grid's best is always on an edge: at least one more lr was tried
        assert len(choice["val_acc"]) > 2


def test_two_ways_of_choosing_the_lr_are_refused():
    with pytest.raises(UserError, match="lr_per_architecture and lr_from_artifact"):
        replace(CFG, lr_from_artifact=True).check()


def test_reports_label_both_protocols_and_never_mix_them():
    from reports.cells import cell_frame
    from reports.frame import to_frame
    from reports.generate import leaderboard
    from reports.scores import relative_scores
    from tests.synthetic_records import record

    recs = [record("random", 60.0), record("dm", 70.0), record("full", 90.0, ipc=None),
            record("random", 80.0, lr_per_architecture=True), record("dm", 85.0, lr_per_architecture=True)]
    md = leaderboard(to_frame(recs), recs, "synth")
    assert "| method   | lr_policy        |" in md and "per-architecture" in md and "fixed" in md
    scores = relative_scores(cell_frame(recs)).set_index(["method", "lr_policy"])
    assert scores.loc[("dm", "fixed"), "ior"] == pytest.approx(0.10)  # against its own protocol's random row
    assert scores.loc[("dm", "per-architecture"), "ior"] == pytest.approx(0.05)
    assert "lr_policy" in scores.loc[("dm", "per-architecture"), "missing"]  # no full row under that protocol


@pytest.mark.parametrize("peak", [0.5, 3.0, 1e6])
def test_the_search_extends_past_an_edge_until_the_best_is_inside(peak):
    from benchmarks.tuning import EXTEND, search

    trained: list[float] = []

    def score(lr: float) -> float:  # one peak at ``peak``, on a log scale
        trained.append(lr)
        return -abs(torch.log(torch.tensor(lr / peak)).item())

    best = search([0.1, 1.0, 10.0], score)
    beyond = [lr for lr in dict.fromkeys(trained) if lr > 10.0 + 1e-9]
    if peak > 10.0 * 10.0**EXTEND:  # never inside: every extension tried, the last one chosen
        assert len(beyond) == EXTEND and best == pytest.approx(10.0**(1 + EXTEND))
    else:
        assert best == pytest.approx(min([0.1, 1.0, 10.0, *beyond], key=lambda lr: abs(torch.log(torch.tensor(lr / peak)))))
        assert len(beyond) == (0 if peak <= 10.0 else 1)


def test_a_cached_search_cut_short_by_a_smaller_extend_continues_as_a_fresh_one(digits, cpu, monkeypatch, tmp_path):
    import benchmarks.tuning as tuning

    cfg = replace(CFG, lr_grid=(0.03, 0.1))  # a two-point grid: its best is on an edge, so it extends
    ds = run_method("random", digits, Budget(2), 0, cpu)
    monkeypatch.setattr(tuning, "EXTEND", 1)
    short = choose_lr(cfg, ds, digits, cpu)
    assert len(short["val_acc"]) == 3
    monkeypatch.undo()
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "cache"))
    calls = []
    real = training.train_group
    monkeypatch.setattr(training, "train_group", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    continued = choose_lr(cfg, ds, digits, cpu)
    assert calls and {f"{lr:.6g}" for lr in calls} == set(continued["val_acc"]) - set(short["val_acc"])  # only new lrs
    assert {k: short["val_acc"][k] for k in short["val_acc"]} == {k: continued["val_acc"][k] for k in short["val_acc"]}
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "fresh"))
    assert choose_lr(cfg, ds, digits, cpu) == continued  # the same lrs, scores and choice as a search from scratch
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(training, "train_group", lambda *a, **k: pytest.fail("trained again"))
    assert choose_lr(cfg, ds, digits, cpu) == continued  # finished: read, not searched again


@pytest.mark.parametrize(("scores", "cap", "chosen"), [
    ({10: 50.0, 30: 60.0, 90: 70.0, 100: 70.5}, 100, 90),  # gains 10, 10, then 0.5: the last gain is too small
    ({10: 50.0, 30: 51.0}, 1000, 10),  # exactly one point is not more than one
    ({10: 50.0, 30: 49.0}, 1000, 10),  # longer and worse
    ({10: 50.0, 20: 80.0}, 20, 20),  # the cap is tried even when it is less than 3x
    ({10: 50.0}, 10, 10),  # no room
])
def test_the_length_rule_keeps_a_longer_training_only_while_it_gains_more_than_a_point(scores, cap, chosen):
    tried: list[int] = []

    def score(steps: int) -> float:
        tried.append(steps)
        return scores[steps]

    assert lengthen(10, cap, score) == chosen
    assert all(s <= cap for s in tried) and set(tried) <= set(scores)


LONG = replace(CFG, max_steps=45)


def test_the_length_is_chosen_on_validation_at_the_chosen_lr_and_cached(digits, cpu, monkeypatch, tmp_path):
    ds = run_method("herding", digits, Budget(2), 0, cpu)
    lr = choose_lr(LONG, ds, digits, cpu)
    length = choose_steps(LONG, lr, ds, digits, cpu)
    assert length["steps"] in (15, 45) and "15" in length["val_acc"] and length["lr"] == lr["lr"]
    assert length["val_acc"]["15"] == lr["val_acc"][f"{lr['lr']:.6g}"]  # the lr search's own score at the base length
    gain = length["val_acc"]["45"] - length["val_acc"]["15"]
    assert (length["steps"] == 45) == (gain > 1.0)
    monkeypatch.setattr(training, "train_group", lambda *a, **k: pytest.fail("trained again"))
    assert choose_steps(LONG, lr, ds, digits, cpu) == length  # cached
    monkeypatch.undo()
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "other"))
    blind = replace(digits, test_x=torch.full_like(digits.test_x, float("nan")), test_y=torch.zeros_like(digits.test_y))
    assert choose_steps(LONG, choose_lr(LONG, ds, blind, cpu), ds, blind, cpu) == length  # no test split read


def test_a_record_trains_the_chosen_length_and_carries_both_choices(digits, cpu):
    result = evaluate(run_method("random", digits, Budget(2), 1, cpu), digits, LONG, cpu)
    m = result["metrics"]
    assert m["steps"] == m["steps_tuning"]["steps"] and m["steps_tuning"]["lr"] == m["lr"] == m["lr_tuning"]["lr"]
    again = evaluate(run_method("herding", digits, Budget(2), 1, cpu), digits, LONG, cpu)  # the choices are cached
    assert again["cost"]["tuning_s"] < result["cost"]["tuning_s"] / 10 and result["cost"]["tuning_s"] > 0
    assert "steps_tuning" not in evaluate(run_method("random", digits, Budget(2), 1, cpu), digits, CFG, cpu)["metrics"]


@pytest.mark.parametrize(("change", "match"), [
    ({"lr_per_architecture": False}, "set lr_per_architecture = true"),
    ({"max_steps": 10}, "at least steps"),
    ({"epochs": 3}, "so does epochs"),
    ({"steps_from_artifact": True}, "so does steps_from_artifact"),
    ({"steps_offset": 5}, "so does steps_offset"),
])
def test_a_length_search_that_cannot_choose_is_refused(change, match):
    with pytest.raises(UserError, match=match):
        replace(LONG, **change).check()


def test_a_search_another_run_holds_is_waited_for_and_read_not_repeated(digits, cpu, monkeypatch):
    import json
    import os
    import socket
    import threading

    import benchmarks.tuning as tuning

    ds = run_method("random", digits, Budget(2), 0, cpu)
    done = choose_lr(CFG, ds, digits, cpu)
    path = tuning.tuning_path(done["key"])
    path.unlink()  # as if another run were still searching: its claim is there and the choice not yet written
    claim = path.parent / f".{done['key']}.claim"
    claim.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid()}))
    monkeypatch.setattr(tuning, "WAIT_S", 0.05)
    monkeypatch.setattr(training, "train_group", lambda *a, **k: pytest.fail("searched twice"))

    def finish() -> None:
        tuning.write_json_atomic(path, done)
        claim.unlink()

    threading.Timer(0.3, finish).start()
    assert choose_lr(CFG, ds, digits, cpu) == done and not claim.exists()


def test_a_run_continued_on_another_machine_trains_at_the_choices_its_records_carry(digits, cpu, monkeypatch, tmp_path):
    import benchmarks.tuning as tuning
    from benchmarks.driver import run_suite
    from benchmarks.suite import parse_suite

    suite = parse_suite({"name": "fair", "grid": {"datasets": ["digits"], "methods": ["random", "herding"], "ipc": [2],
                                                  "models": ["convnet3_w32"], "optimizers": ["adam"]},
                         "eval": {"steps": 15, "batch_size": 20, "val_size": 200, "lr_per_architecture": True,
                                  "lr_grid": [0.1, 1.0, 10.0], "max_steps": 45}})
    records = tmp_path / "records"
    run_suite(suite, records, cpu, progress=False, methods=["random"])
    first = json.loads(next(records.glob("*.json")).read_text())["metrics"]
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "elsewhere"))  # another machine: an empty cache
    monkeypatch.setattr(tuning._ReferenceTrainer, "val_acc", lambda *a: pytest.fail("searched again"))
    run_suite(suite, records, cpu, progress=False)
    stored = [json.loads(p.read_text()) for p in records.glob("*.json")]
    assert {r["config"]["method"] for r in stored} == {"random", "herding"}
    for r in stored:
        assert r["metrics"]["lr_tuning"] == first["lr_tuning"] and r["metrics"]["steps_tuning"] == first["steps_tuning"]


def test_remembering_never_replaces_a_cached_search(tmp_path):
    import benchmarks.tuning as tuning

    own = {"key": "k1", "lr": 0.01, "val_acc": {"0.01": 90.0}}
    tuning.tuning_path("k1").parent.mkdir(parents=True, exist_ok=True)
    tuning.write_json_atomic(tuning.tuning_path("k1"), own)
    other = {"metrics": {"lr_tuning": {"key": "k1", "lr": 0.03, "val_acc": {"0.03": 91.0}},
                         "steps_tuning": {"key": "k2", "lr": 0.03, "steps": 45, "val_acc": {"15": 80.0, "45": 91.0}}}}
    assert tuning.remember(tuning.choices_of([other, {"metrics": {}}, {"status": "error"}, other])) == 1
    assert json.loads(tuning.tuning_path("k1").read_text()) == own
    assert json.loads(tuning.tuning_path("k2").read_text())["steps"] == 45


FAIR = {"name": "fair", "grid": {"datasets": ["digits"], "methods": ["random", "herding"], "ipc": [2],
                                 "models": ["convnet3_w32", "lenet"], "optimizers": ["adam"], "seeds": [0]},
        "eval": {"steps": 15, "batch_size": 20, "val_size": 200, "lr_per_architecture": True,
                 "lr_grid": [0.1, 1.0, 10.0], "max_steps": 45}}


def test_cells_of_one_search_share_its_identity_before_their_artifacts_exist():
    from benchmarks.suite import parse_suite
    from benchmarks.tuning import search_identity

    ident = {(c.method, c.eval.model): search_identity(c.dataset, c.ipc, c.eval) for c in parse_suite(FAIR).cells()}
    assert ident[("random", "lenet")] == ident[("herding", "lenet")] != ident[("random", "convnet3_w32")]


def test_a_ray_search_task_chooses_and_evaluations_on_other_nodes_train_at_its_choices(digits, cpu, monkeypatch,
                                                                                        tmp_path):
    """The Ray executor's task functions, called directly: the search task's choices reach an evaluation task whose
    node has another, empty cache, which then trains at them without searching."""
    import benchmarks.tuning as tuning
    from benchmarks.executors.ray_executor import _artifact_payload, _evaluate_task, _tune_task
    from benchmarks.suite import parse_suite

    threads = torch.get_num_threads()
    suite = parse_suite(FAIR)
    (cell,) = [c for c in suite.cells() if c.method == "random" and c.eval.model == "lenet"]
    payload = _artifact_payload(run_method("random", digits, Budget(2), 0, cpu))
    try:
        searched = _tune_task(cell, "cpu", None, 1, [], payload)
        lr, length = searched
        assert length["lr_key"] == lr["key"] and length["lr"] == lr["lr"] and length["steps"] in (15, 45)
        monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "another-node"))
        monkeypatch.setattr(tuning._ReferenceTrainer, "val_acc", lambda *a: pytest.fail("searched again"))
        (record,) = _evaluate_task([cell], suite, "cpu", None, 1, [], searched, payload)
    finally:
        torch.set_num_threads(threads)
    assert record["status"] == "ok" and [record["metrics"]["lr_tuning"], record["metrics"]["steps_tuning"]] == searched
    assert _tune_task(cell, "cpu", None, 1, [], RuntimeError("distillation failed")) == []


def test_a_ray_search_at_an_ipc_needs_no_artifact(digits, cpu, monkeypatch, tmp_path):
    """A search whose config reads no hints runs on the reference set alone (so it need not wait for a slow method's
    artifact) and chooses what it chooses beside that artifact; a config that reads the artifact's hints waits."""
    from benchmarks.evaluator import reads_hints
    from benchmarks.executors.ray_executor import _artifact_payload, _tune_task
    from benchmarks.suite import parse_suite

    threads = torch.get_num_threads()
    (cell,) = [c for c in parse_suite(FAIR).cells() if c.method == "herding" and c.eval.model == "lenet"]
    payload = _artifact_payload(run_method("herding", digits, Budget(2), 0, cpu))
    try:
        alone = _tune_task(cell, "cpu", None, 1, [], None)
        monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "another-node"))
        beside = _tune_task(cell, "cpu", None, 1, [], payload)
    finally:
        torch.set_num_threads(threads)
    assert alone == beside and len(alone) == 2
    assert not reads_hints(cell.eval)
    assert all(reads_hints(replace(cell.eval, **kw)) for kw in ({"epochs": 3}, {"steps_from_artifact": True},
                                                                {"lr_from_artifact": True}))


FAIR_ONE = {**FAIR, "grid": {**FAIR["grid"], "methods": ["random"], "models": ["convnet3_w32"]}}


def test_a_search_is_kept_in_the_records_folder_before_its_cells_are_stored(digits, cpu, monkeypatch, tmp_path):
    """A run killed after a search and before its cells are stored leaves the choices in its records folder; the
    suite continued on another machine (an empty cache) trains at them without searching."""
    import benchmarks.evaluator as evaluator
    import benchmarks.tuning as tuning
    from benchmarks.driver import run_suite
    from benchmarks.suite import parse_suite

    suite = parse_suite(FAIR_ONE)
    records = tmp_path / "records"

    def killed(*a, **k):
        raise KeyboardInterrupt  # the cell's own training, after its search: as if the machine went away

    with monkeypatch.context() as m:
        m.setattr(evaluator, "train_group", killed)
        with pytest.raises(KeyboardInterrupt):
            run_suite(suite, records, cpu, progress=False)
    assert not list(records.glob("*.json"))
    kept = {c["key"]: c for c in tuning.kept_choices(records / tuning.KEPT)}
    (lr,) = [c for c in kept.values() if "lr_key" not in c]
    (length,) = [c for c in kept.values() if "lr_key" in c]
    assert length["lr_key"] == lr["key"] and lr == json.loads(tuning.tuning_path(lr["key"]).read_text())

    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(tuning._ReferenceTrainer, "val_acc", lambda *a: pytest.fail("searched again"))
    assert run_suite(suite, records, cpu, progress=False)["ok"] == 1
    (record,) = [json.loads(p.read_text()) for p in records.glob("*.json")]
    assert record["metrics"]["lr_tuning"] == lr and record["metrics"]["steps_tuning"] == length


def test_a_local_worker_keeps_its_searches_where_the_driver_says(digits, cpu, tmp_path):
    import benchmarks.tuning as tuning
    from benchmarks.executors.local import _evaluate_task
    from benchmarks.suite import parse_suite

    threads = torch.get_num_threads()
    suite = parse_suite(FAIR_ONE)
    (cell,) = suite.cells()
    try:
        (record,) = _evaluate_task([cell], suite, "cpu", None, [None], tmp_path / "kept")
    finally:
        torch.set_num_threads(threads)
    kept = {c["key"]: c for c in tuning.kept_choices(tmp_path / "kept")}
    assert kept == {c["key"]: c for c in (record["metrics"]["lr_tuning"], record["metrics"]["steps_tuning"])}


def test_a_ray_driver_keeps_each_search_as_it_finishes_and_returns_evaluations_only(tmp_path):
    """``_next_done`` over a stand-in for ray: finished searches are kept (a failed one skipped) while it waits."""
    import types

    import benchmarks.tuning as tuning
    from benchmarks.executors.ray_executor import _next_done

    class Failed(Exception):
        pass

    results = {"search-1": [{"key": "a", "lr": 0.1, "val_acc": {"0.1": 50.0}}], "search-2": Failed(), "eval": []}
    order = ["search-1", "search-2", "eval"]

    def get(ref):
        if isinstance(results[ref], Exception):
            raise results[ref]
        return results[ref]

    fake = types.SimpleNamespace(wait=lambda refs, num_returns: ([next(r for r in order if r in refs)], []), get=get,
                                 exceptions=types.SimpleNamespace(RayError=Failed))
    unkept = {"search-1", "search-2"}
    assert _next_done(fake, {"eval": []}, unkept, tmp_path) == "eval" and unkept == set()
    assert tuning.kept_choices(tmp_path) == results["search-1"]


def test_only_a_choice_named_after_its_key_is_read_back(tmp_path):
    import benchmarks.tuning as tuning

    good = {"key": "k1", "lr": 0.01, "val_acc": {"0.01": 90.0}}
    tuning.keep([good], tmp_path)
    (tmp_path / "k2.json").write_text(json.dumps(good))  # renamed: not the key it holds
    (tmp_path / "k3.json").write_text("{not json")
    (tmp_path / "k4.json").write_text(json.dumps({"key": "k4", "lr": 0.01}))  # no validation scores
    (tmp_path / "k5.json").write_text(json.dumps({"key": "k5", "lr": 0.01, "val_acc": {"0.01": "90"}}))  # not a score
    assert tuning.kept_choices(tmp_path) == [good] and tuning.kept_choices(tmp_path / "absent") == []


def test_an_lr_search_cut_short_resumes_from_its_kept_memo_to_the_choice_a_whole_search_makes(digits, cpu,
                                                                                           monkeypatch, tmp_path):
    import benchmarks.tuning as tuning
    from benchmarks.driver import run_suite
    from benchmarks.suite import parse_suite

    suite = parse_suite(FAIR_ONE)
    run_suite(suite, tmp_path / "whole", cpu, progress=False)
    (whole,) = [json.loads(p.read_text()) for p in (tmp_path / "whole").glob("*.json")]

    trained: list[tuple[float, int]] = []
    real = tuning._ReferenceTrainer.val_acc

    def counted(self, lr, steps):
        if len(trained) == 2:
            raise KeyboardInterrupt  # the machine goes after two of the grid's lrs
        trained.append((lr, steps))
        return real(self, lr, steps)

    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "first-machine"))
    monkeypatch.setattr(tuning._ReferenceTrainer, "val_acc", counted)
    records = tmp_path / "records"
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, records, cpu, progress=False)
    (memo,) = tuning.kept_choices(records / tuning.KEPT)
    assert memo["partial"] and list(memo["val_acc"]) == [f"{lr:.6g}" for lr, _ in trained]

    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "second-machine"))
    done = list(trained)
    trained.clear()
    monkeypatch.setattr(tuning._ReferenceTrainer, "val_acc", lambda self, lr, steps: trained.append((lr, steps)) or
                        real(self, lr, steps))
    run_suite(suite, records, cpu, progress=False)
    (record,) = [json.loads(p.read_text()) for p in records.glob("*.json")]
    assert not set(done) & set(trained)  # no training repeated (the length search trains the chosen lr longer)
    assert record["metrics"]["lr_tuning"] == whole["metrics"]["lr_tuning"]
    assert record["metrics"]["steps_tuning"] == whole["metrics"]["steps_tuning"]

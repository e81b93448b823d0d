"""A distillation killed between saves resumes from its last saved state and ends with the very artifact an
uninterrupted run gives (same images and labels, same hash; for label distillation, the same selection history).
Every method with an iteration loop is held to it, found from the registry."""

import copy

import pytest
import torch

from benchmarks import checkpoint
from benchmarks.artifact import load_artifact
from benchmarks.methods import METHODS, Budget, run_method

ITERATIVE = [n for n, e in METHODS.items() if "iterations" in e.params]  # every method with a distillation loop
# label distillation saves at selection points (here 4 and 8, with learner resets in between); plain loops save
# after every iteration once SAVE_EVERY_S is 0
SELECTING = {"iterations": 12, "select_every": 4, "stats_gap": 3}


class Killed(Exception):
    pass


def test_a_state_saved_for_other_settings_is_ignored(tmp_path):
    checkpoint.save(tmp_path, {"x": torch.ones(2)}, {"iteration": 4}, {"seed": 0})
    assert checkpoint.load(tmp_path, {"seed": 0}) is not None
    assert checkpoint.load(tmp_path, {"seed": 1}) is None
    (tmp_path / checkpoint.INFO).write_text("{not json")
    assert checkpoint.load(tmp_path, {"seed": 0}) is None  # a damaged state starts over, it is never trusted


@pytest.mark.parametrize("name", ITERATIVE)
def test_every_iterative_method_resumes_after_a_kill_to_the_uninterrupted_artifact(name, digits, cpu, tmp_path,
                                                                                  monkeypatch):
    entry = METHODS.get(name)
    params = {**entry.smoke, **(SELECTING if "select_every" in entry.params else {"iterations": 4})}
    monkeypatch.setattr(checkpoint, "SAVE_EVERY_S", 0.0)  # plain loops save after every iteration
    reference = run_method(name, digits, Budget(1), 0, cpu, params)
    folder = tmp_path / "state"
    real_save, saved_at, infos = checkpoint.save, [], []

    def dies_at_the_second_save(where, tensors, info, fingerprint):  # the iterations since the first save are lost
        saved_at.append(info["iteration"])
        infos.append(copy.deepcopy(info))  # as saved: the loop goes on appending to its lists
        if len(saved_at) == 2:
            raise Killed
        real_save(where, tensors, info, fingerprint)

    monkeypatch.setattr(checkpoint, "save", dies_at_the_second_save)
    with pytest.raises(Killed), checkpoint.resumable(folder):
        run_method(name, digits, Budget(1), 0, cpu, params)
    assert (folder / checkpoint.INFO).is_file()  # kept: the run did not finish
    monkeypatch.setattr(checkpoint, "save", real_save)
    with checkpoint.resumable(folder):
        resumed = run_method(name, digits, Budget(1), 0, cpu, params)
    assert not folder.exists()  # removed once the artifact was made
    assert resumed.meta["cost"]["resumed_at_iteration"] == saved_at[0] > 0
    assert torch.equal(resumed.images, reference.images)
    assert torch.equal(resumed.labels, reference.labels)
    assert resumed.content_hash() == reference.content_hash()
    assert resumed.hints == reference.hints
    content = lambda ds: {k: v for k, v in ds.meta.items() if k not in ("cost", "provenance")}  # noqa: E731
    assert content(resumed) == content(reference)  # loss history, selection, reset lengths, iterations run
    # its cost is both processes' seconds: the killed one's up to its save, then the resumed one's own
    cost, first = resumed.meta["cost"], infos[0]
    assert cost["earlier_wall_s"] == pytest.approx(first["wall_s"] if "wall_s" in first else first["check_s"][-1], abs=1e-3)
    assert cost["earlier_cpu_s"] == pytest.approx(first["cpu_s"], abs=1e-3) and first["cpu_s"] > 0
    assert cost["wall_s"] == pytest.approx(cost["earlier_wall_s"] + cost["segment_wall_s"], abs=1e-3)
    assert cost["cpu_s"] == pytest.approx(cost["earlier_cpu_s"] + cost["segment_cpu_s"], abs=1e-3)
    assert cost["earlier_wall_s"] > 0 and "segment_wall_s" not in reference.meta["cost"]
    assert reference.meta["cost"]["cpu_s"] > 0


def test_a_resumed_cost_without_the_earlier_cpu_clock_leaves_cpu_out():
    """A state saved before the CPU clock existed carries wall seconds only: the total CPU is then unknown, not
    this process's alone."""
    from benchmarks.cost import distill_seconds

    assert distill_seconds({}, 2.0, 1.5) == {"wall_s": 2.0, "cpu_s": 1.5}
    assert distill_seconds({"earlier_wall_s": 10.0, "earlier_cpu_s": None}, 2.0, 1.5) == {
        "wall_s": 12.0, "segment_wall_s": 2.0, "segment_cpu_s": 1.5}
    assert distill_seconds({"earlier_wall_s": 10.0, "earlier_cpu_s": 9.0}, 2.0, 1.5)["cpu_s"] == 10.5


def test_ddbench_distill_interrupted_resumes_when_run_again(tmp_path, monkeypatch, capsys):
    """Outside a suite too: Ctrl-C during `ddbench distill` keeps the loop state, and the same command picks it up
    and writes the artifact the uninterrupted command writes."""
    from benchmarks.cli import main
    from benchmarks.paths import cache_dir

    monkeypatch.setattr(checkpoint, "SAVE_EVERY_S", 0.0)
    cmd = ["distill", "dm", "--dataset", "digits", "--ipc", "1", "--iterations", "4", "--param", "model=convnet3_w32",
           "--device", "cpu", "--quiet"]
    assert main([*cmd, "--out", str(tmp_path / "whole")]) == 0
    real_save, saved_at = checkpoint.save, []

    def interrupted_at_the_second_save(where, tensors, info, fingerprint):
        saved_at.append(info["iteration"])
        if len(saved_at) == 2:
            raise KeyboardInterrupt
        real_save(where, tensors, info, fingerprint)

    monkeypatch.setattr(checkpoint, "save", interrupted_at_the_second_save)
    assert main([*cmd, "--out", str(tmp_path / "resumed")]) == 130
    assert "resumes" in capsys.readouterr().err
    assert not (tmp_path / "resumed").exists() or not any((tmp_path / "resumed").iterdir())
    assert len(list((cache_dir() / "checkpoints").iterdir())) == 1
    monkeypatch.setattr(checkpoint, "save", real_save)
    assert main([*cmd, "--out", str(tmp_path / "resumed")]) == 0
    whole, resumed = (sorted(p.name for p in (tmp_path / d).iterdir()) for d in ("whole", "resumed"))
    assert whole == resumed  # artifact files are named by their content hash
    resumed_set = load_artifact(next((tmp_path / "resumed").glob("*.json")))
    assert resumed_set.meta["cost"]["resumed_at_iteration"] == saved_at[0] > 0
    assert not any((cache_dir() / "checkpoints").iterdir())  # removed once the artifact was written


@pytest.mark.parametrize("kind", ["plain loop", "label distillation"])
def test_migrate_corrects_the_wall_of_a_resumed_distillation_stored_with_its_last_process_only(tmp_path, kind):
    """Artifacts (and records from them) written before the clocks were summed said the last process's seconds:
    ``ddbench migrate`` adds the earlier processes' wall, which a plain loop saved and label distillation's
    selection timeline holds, and leaves the content hash valid."""
    import json

    from benchmarks.artifact import DistilledSet
    from benchmarks.migrate import correct_cached_artifacts, migrate_dir
    from benchmarks.paths import reports_dir

    old = {"wall_s": 5.0, "resumed_at_iteration": 8, "seconds_per_iteration": 0.5}
    meta = ({"cost": {**old, "earlier_wall_s": 7.25}} if kind == "plain loop" else
            {"selection": [[4, 10, 0.5], [8, 10, 0.6], [12, 10, 0.7]], "cost": {**old, "selection_s": [3.0, 7.25, 9.0]}})
    ds = DistilledSet(torch.rand(2, 1, 8, 8), torch.tensor([0, 1]), "hard", 2, meta=meta)
    header = ds.save(tmp_path / "cache" / "artifacts" / "somekey")
    records = tmp_path / "records"
    records.mkdir()
    quick = sorted((reports_dir() / "quick" / "records").glob("*.json"))[:2]
    record, other = ({**r, "artifact": {**r["artifact"], "hash": ds.content_hash()}, "cost": {**r["cost"], "distill_wall_s": w}}
                     for r, w in zip((json.loads(p.read_text()) for p in quick), (5.0, 3.0), strict=True))
    for r in (record, other):  # other: from the same content distilled again, its own seconds (not the resumed run's)
        (records / f"{r['key']}.json").write_text(json.dumps(r))

    costs = correct_cached_artifacts(tmp_path / "cache")
    fixed = load_artifact(header)  # its hash still holds: cost is not content
    assert fixed.meta["cost"]["wall_s"] == 12.25 and fixed.meta["cost"]["segment_wall_s"] == 5.0
    assert fixed.meta["cost"]["earlier_cpu_s"] is None and "cpu_s" not in fixed.meta["cost"]  # never measured
    assert migrate_dir(records, None, costs)["corrected"] == 1
    assert json.loads((records / f"{record['key']}.json").read_text())["cost"]["distill_wall_s"] == 12.25
    assert json.loads((records / f"{other['key']}.json").read_text()) == other
    assert correct_cached_artifacts(tmp_path / "cache") == costs  # idempotent
    assert migrate_dir(records, None, costs)["corrected"] == 0

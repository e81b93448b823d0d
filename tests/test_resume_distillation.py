"""A distillation killed between saves resumes from its last saved state and ends with the very artifact an
uninterrupted run gives (same images and labels, same hash; for label distillation, the same selection history).
Every method with an iteration loop is held to it, found from the registry."""

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
    real_save, saved_at = checkpoint.save, []

    def dies_at_the_second_save(where, tensors, info, fingerprint):  # the iterations since the first save are lost
        saved_at.append(info["iteration"])
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

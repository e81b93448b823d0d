"""A label distillation killed between selection points resumes from its last saved state and ends with the very
artifact an uninterrupted run gives (same labels, same hash, same selection history)."""

import pytest
import torch

from benchmarks import checkpoint
from benchmarks.methods import METHODS, Budget, run_method
from methods.label_distillation import LabelRun

# every label-distillation variant (they share distill_labels); small enough for a test, with learner resets
RESUMABLE = [n for n in METHODS.names() if n.startswith("ld")]
PARAMS = {"iterations": 12, "outer_batch": 64, "select_every": 4, "val_size": 100, "stats_gap": 3}


class Killed(Exception):
    pass


@pytest.mark.parametrize("name", RESUMABLE)
def test_a_killed_distillation_resumes_to_the_uninterrupted_artifact(name, digits, cpu, tmp_path, monkeypatch):
    reference = run_method(name, digits, Budget(2), 0, cpu, PARAMS)
    folder = tmp_path / "state"
    real_step, calls = LabelRun.step, []

    def dies_at_the_seventh(self: LabelRun) -> float:
        calls.append(1)
        if len(calls) == 7:
            raise Killed
        return real_step(self)

    monkeypatch.setattr(LabelRun, "step", dies_at_the_seventh)
    with pytest.raises(Killed), checkpoint.resumable(folder):
        run_method(name, digits, Budget(2), 0, cpu, PARAMS)
    assert (folder / checkpoint.INFO).is_file()  # kept: the run did not finish
    monkeypatch.setattr(LabelRun, "step", real_step)
    with checkpoint.resumable(folder):
        resumed = run_method(name, digits, Budget(2), 0, cpu, PARAMS)
    assert not folder.exists()  # removed once the artifact was made
    assert resumed.meta["cost"]["resumed_at_iteration"] == 4
    assert torch.equal(resumed.labels, reference.labels)
    assert resumed.content_hash() == reference.content_hash()
    for key in ("selection", "reset_lengths", "outer_loss", "best_iteration", "best_val_acc"):
        assert resumed.meta[key] == reference.meta[key], key
    assert resumed.hints.steps == reference.hints.steps


def test_a_state_saved_for_other_settings_is_ignored(tmp_path):
    checkpoint.save(tmp_path, {"x": torch.ones(2)}, {"iteration": 4}, {"seed": 0})
    assert checkpoint.load(tmp_path, {"seed": 0}) is not None
    assert checkpoint.load(tmp_path, {"seed": 1}) is None
    (tmp_path / checkpoint.INFO).write_text("{not json")
    assert checkpoint.load(tmp_path, {"seed": 0}) is None  # a damaged state starts over, it is never trusted

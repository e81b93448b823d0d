import json

import pytest
import torch

from benchmarks.artifact import DistilledSet, load_artifact
from benchmarks.errors import UserError


def _sets(digits):
    x, y = digits.train_x[:20], digits.train_y[:20]
    soft = torch.softmax(torch.randn(20, 10, generator=torch.Generator().manual_seed(0)), 1)
    return {
        "hard": DistilledSet(x, y, "hard", 10, meta={"dataset": "digits", "method": "t"}),
        "soft": DistilledSet(x, soft, "soft", 10, meta={"dataset": "digits"}, extras={"lr": torch.tensor([0.02])}),
        "online": DistilledSet(x, y, "online", 10, teacher="teacher-abc123", meta={"dataset": "digits"}),
    }


@pytest.mark.parametrize("kind", ["hard", "soft", "online"])
def test_round_trip(kind, digits, tmp_path):
    ds = _sets(digits)[kind]
    path = ds.save(tmp_path)
    assert path.name == f"{ds.content_hash()}.json"
    back = load_artifact(path)
    assert torch.equal(back.images, ds.images) and torch.equal(back.labels, ds.labels)
    assert back.label_kind == kind and back.teacher == ds.teacher and back.meta == ds.meta
    assert back.extras.keys() == ds.extras.keys()
    assert back.content_hash() == ds.content_hash()
    # the files are safetensors + JSON: nothing that could run code
    assert {p.suffix for p in tmp_path.iterdir()} == {".json", ".safetensors"}


def test_hash_ignores_cost_but_not_content(digits):
    ds = _sets(digits)["hard"]
    h = ds.content_hash()
    ds.meta["cost"] = {"wall_s": 12.0}
    assert ds.content_hash() == h
    other = DistilledSet(ds.images.clone(), ds.labels.roll(1), "hard", 10, meta=dict(ds.meta))
    assert other.content_hash() != h


def test_corrupted_artifact_is_refused(digits, tmp_path):
    path = _sets(digits)["hard"].save(tmp_path)
    doc = json.loads(path.read_text())
    doc["meta"]["method"] = "edited"
    path.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="does not match its hash"):
        load_artifact(path)


@pytest.mark.parametrize("bad", [
    lambda x, y: DistilledSet(x * 255, y, "hard", 10),
    lambda x, y: DistilledSet(x, y[:-1], "hard", 10),
    lambda x, y: DistilledSet(x, torch.ones(len(y), 10), "soft", 10),
    lambda x, y: DistilledSet(x, y, "online", 10),
    lambda x, y: DistilledSet(x, y, "learned", 10),
])
def test_invalid_sets_are_refused(bad, digits):
    with pytest.raises(ValueError, match="invalid DistilledSet"):
        bad(digits.train_x[:5], digits.train_y[:5])

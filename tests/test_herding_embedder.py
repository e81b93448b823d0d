"""The herding-embedder benchmark reads the suite's own records where it claims to: every accuracy it takes from
protocols-mnist is that suite's record of the same set, seed and protocol."""

import json
from pathlib import Path

import pytest

from benchmarks.perf.herding_embedder import SUITE, stored_accuracy
from reports.cells import suite_records_dir
from reports.frame import load_records

REPORT = Path(__file__).resolve().parents[1] / "reports" / "bench" / "herding_embedder.json"


def test_a_stored_accuracy_is_the_record_of_that_set_seed_and_protocol():
    records = load_records(suite_records_dir(SUITE))
    herding10 = [r for r in records if r["config"]["method"] == "herding" and r["config"]["ipc"] == 10]
    assert herding10
    for r in herding10:
        c = r["config"]
        assert stored_accuracy(records, r["artifact"]["hash"], c["seed"], c["eval"]["protocol"]) == r["metrics"]["test_acc"]
        assert stored_accuracy(records, r["artifact"]["hash"], c["seed"] + 100, c["eval"]["protocol"]) is None
        assert stored_accuracy(records, r["artifact"]["hash"], c["seed"], "mtt") is None


@pytest.mark.skipif(not REPORT.is_file(), reason="reports/bench/herding_embedder.json not generated")
def test_the_committed_rows_taken_from_the_suite_match_its_records():
    doc = json.loads(REPORT.read_text())
    records = load_records(suite_records_dir(SUITE))
    taken = 0
    for row in doc["rows"]:
        for acc, source in zip(row["accs"], row["sources"], strict=True):
            if source.startswith(SUITE):
                art = source.split("(")[1].rstrip(")")
                same = [r for r in records if r["artifact"]["hash"] == art
                        and r["config"]["eval"].get("protocol") == doc["protocol"]]
                assert [r["metrics"]["test_acc"] for r in same] == [acc]
                taken += 1
    assert taken > 0


def test_feature_spaces_of_the_variants():
    import torch

    from benchmarks.data import load_dataset
    from benchmarks.perf.herding_embedder import variant_features

    data = load_dataset("digits").for_distillation()
    cpu = torch.device("cpu")
    assert torch.equal(variant_features("pixels", data, 0, cpu), data.train_x.flatten(1))
    untrained = variant_features("untrained", data, 0, cpu)
    assert len(untrained) == len(data.train_x) and torch.equal(untrained, variant_features("untrained", data, 0, cpu))
    assert not torch.equal(untrained, variant_features("untrained", data, 1, cpu))  # the seed picks the initialisation
    norms = variant_features("l2:3", data, 0, cpu).norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    with pytest.raises(SystemExit, match="unknown variant"):
        variant_features("l2:many", data, 0, cpu)


def test_rows_of_an_earlier_run_are_kept_with_their_own_command(tmp_path):
    from benchmarks.perf.herding_embedder import earlier_rows, markdown

    out = tmp_path / "herding"
    keys = {"ipc": 10, "protocol": "dc", "threads": 1}
    old = {"command": "old cmd", "commit": "abc", "measured": "2026-12-01", **keys,
           "rows": [{"steps": 200, "accs": [96.0], "stats": {"mean": 96.0, "std": 0.0, "n": 1}, "sources": ["x"],
                     "distil_wall_s": [1.0], "eval_wall_s": []}]}
    out.with_suffix(".json").write_text(json.dumps(old))
    kept = earlier_rows(out, keys)
    assert [(r["command"], r["commit"], r["steps"]) for r in kept] == [("old cmd", "abc", 200)]
    assert earlier_rows(out, {**keys, "protocol": "dsa"}) == []  # another protocol's rows are not this table's
    text = markdown({**keys, "published": "93.7", "rows": kept})
    assert "| steps 200 | 96.00 ± 0.00 | 1 |" in text and "`old cmd`" in text

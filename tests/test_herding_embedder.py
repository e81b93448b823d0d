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
